"""A drawing of a state machine laid out from its ASL: layers from the start state down, loops drawn back up.

Pure: the definition in, boxes and edges out (the page draws them as SVG). Each state is put one layer
below the furthest state that leads to it; an edge back to a state still being explored (a poll loop:
Wait -> Check -> Choice -> Wait) does not push it down, it is drawn as a loop. Catch edges are kept but
marked, so the page can draw them faintly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

NODE_WIDTH = 170
NODE_HEIGHT = 30
LAYER_GAP = 22
COLUMN_GAP = 16


@dataclass
class Node:
    name: str
    type: str
    layer: int
    x: int = 0
    y: int = 0


@dataclass
class Edge:
    source: str
    target: str
    kind: str
    """``next`` (Next, Default, a Choice rule), ``catch``, or ``loop`` (back to an earlier state)."""


def state_edges(name: str, state: dict[str, Any]) -> list[tuple[str, str]]:
    """(target, kind) of every transition out of ``state``, in the order the ASL lists them."""
    out: list[tuple[str, str]] = []
    for rule in state.get("Choices") or []:
        if isinstance(rule, dict) and rule.get("Next"):
            out.append((str(rule["Next"]), "next"))
    for key in ("Next", "Default"):
        if state.get(key):
            out.append((str(state[key]), "next"))
    for catcher in state.get("Catch") or []:
        if isinstance(catcher, dict) and catcher.get("Next"):
            out.append((str(catcher["Next"]), "catch"))
    return out


def layout(definition: dict[str, Any]) -> dict[str, Any]:
    """``{"nodes": [...], "edges": [...], "width": W, "height": H}`` for the page to draw.

    Raises ValueError naming what is wrong when the definition has no StartAt or names a state it lacks.
    """
    states = definition.get("States")
    start = definition.get("StartAt")
    if not isinstance(states, dict) or not states:
        raise ValueError("the definition has no States object")
    if start not in states:
        raise ValueError(f"StartAt {start!r} is not one of the definition's States")
    for name, state in states.items():
        for target, _ in state_edges(name, state):
            if target not in states:
                raise ValueError(f"state {name!r} goes to {target!r}, which the definition does not have")

    order: list[str] = []
    edges: list[Edge] = []
    on_path: set[str] = set()
    seen: set[str] = set()

    def visit(name: str) -> None:  # depth first: discovery order, and which edges close a loop
        seen.add(name)
        on_path.add(name)
        order.append(name)
        for target, kind in state_edges(name, states[name]):
            looping = target in on_path
            edges.append(Edge(name, target, "loop" if looping else kind))
            if target not in seen:
                visit(target)
        on_path.discard(name)

    visit(str(start))
    for name in states:  # states nothing reaches still get drawn (at the end)
        if name not in seen:
            visit(name)

    layer = {name: 0 for name in order}
    forward = [e for e in edges if e.kind != "loop"]
    for _ in range(len(order)):  # longest path over the forward edges (they form a DAG)
        moved = False
        for edge in forward:
            if layer[edge.target] < layer[edge.source] + 1:
                layer[edge.target] = layer[edge.source] + 1
                moved = True
        if not moved:
            break
    rows: dict[int, list[str]] = {}
    for name in order:
        rows.setdefault(layer[name], []).append(name)
    widest = max(len(row) for row in rows.values())
    width = widest * NODE_WIDTH + (widest - 1) * COLUMN_GAP
    nodes: list[Node] = []
    for depth in sorted(rows):
        row = rows[depth]
        row_width = len(row) * NODE_WIDTH + (len(row) - 1) * COLUMN_GAP
        left = (width - row_width) // 2
        for index, name in enumerate(row):
            x = left + index * (NODE_WIDTH + COLUMN_GAP)
            y = depth * (NODE_HEIGHT + LAYER_GAP)
            nodes.append(Node(name, str(states[name].get("Type", "?")), depth, x, y))
    height = (max(rows) + 1) * (NODE_HEIGHT + LAYER_GAP) - LAYER_GAP
    return {
        "nodes": [asdict(n) for n in nodes],
        "edges": [asdict(e) for e in edges],
        "width": width,
        "height": height,
        "node_width": NODE_WIDTH,
        "node_height": NODE_HEIGHT,
    }
