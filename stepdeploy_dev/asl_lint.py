"""Static checks of an Amazon States Language document.

moto, cfn-lint and ``sam validate --lint`` accept a ``Next`` to a missing state, and none of
them reads a ``DefinitionUri`` file. ``lint_asl`` returns one human message per problem, each
naming the state; an empty list means the definition passed.

    python -m stepdeploy_dev.asl_lint statemachines/deploy.asl.json --substitutions-from template.yaml

exits 1 and prints the messages when there are any.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from stepdeploy.template import cfn_yaml

MAX_STATE_NAME_LENGTH = 80

LAMBDA_TRANSIENT_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)

TERMINAL_TYPES = frozenset({"Succeed", "Fail"})
NO_NEXT_TYPES = frozenset({"Succeed", "Fail", "Choice"})

PLACEHOLDER = re.compile(r"\$\{([^${}\s]+)\}")
_LAMBDA_FUNCTION_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[^:]*:[^:]*:function:")
_LAMBDA_INTEGRATION = "arn:aws:states:::lambda:invoke"


# --- the state graph ---------------------------------------------------------------------


def state_edges(state: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, target state) of every transition a state declares: Next, Default, Choices, Catch."""
    if isinstance(state.get("Next"), str):
        yield "Next", state["Next"]
    if isinstance(state.get("Default"), str):
        yield "Default", state["Default"]
    for index, rule in enumerate(_list(state.get("Choices"))):
        if isinstance(rule, Mapping) and isinstance(rule.get("Next"), str):
            yield f"Choices[{index}].Next", rule["Next"]
    for index, catcher in enumerate(_list(state.get("Catch"))):
        if isinstance(catcher, Mapping) and isinstance(catcher.get("Next"), str):
            yield f"Catch[{index}].Next", catcher["Next"]


def definition_transitions(definition: Mapping[str, Any]) -> set[tuple[str, str]]:
    """Every (from, to) transition of the top-level states, for coverage reports."""
    states = definition.get("States")
    if not isinstance(states, Mapping):
        return set()
    return {
        (name, target)
        for name, state in states.items()
        if isinstance(state, Mapping)
        for _field, target in state_edges(state)
    }


def execution_coverage(
    history_events: Iterable[Mapping[str, Any]],
) -> tuple[set[str], set[tuple[str, str]]]:
    """States entered and (from, to) transitions taken, from a GetExecutionHistory event list.

    Events may come in any order (reverseOrder, pages); transitions into Catch targets count.
    A redrive resumes the failed state without a transition into it. Inside Map or Parallel
    states the iterations' states interleave and their order counts as transitions too.
    """
    entered: set[str] = set()
    transitions: set[tuple[str, str]] = set()
    previous: str | None = None
    for event in sorted(history_events, key=lambda e: int(e.get("id", 0))):
        event_type = str(event.get("type", ""))
        if event_type == "ExecutionRedriven":
            previous = None
        elif event_type.endswith("StateEntered"):
            name = (event.get("stateEnteredEventDetails") or {}).get("name")
            if not isinstance(name, str):
                continue
            entered.add(name)
            if previous is not None:
                transitions.add((previous, name))
            previous = name
    return entered, transitions


def reachable_states(definition: Mapping[str, Any]) -> set[str]:
    states = definition.get("States")
    start = definition.get("StartAt")
    if not isinstance(states, Mapping) or start not in states:
        return set()
    seen: set[str] = set()
    pending = [start]
    while pending:
        name = pending.pop()
        if name in seen or name not in states:
            continue
        seen.add(name)
        state = states[name]
        if isinstance(state, Mapping):
            pending.extend(target for _field, target in state_edges(state))
    return seen


# --- the checks --------------------------------------------------------------------------


def lint_asl(definition: Mapping[str, Any], substitutions: Mapping[str, str] | None = None) -> list[str]:
    """Human messages, one per problem found in ``definition`` (empty: no problem).

    With ``substitutions`` (DefinitionSubstitutions), every ``${Name}`` placeholder must have
    one and every substitution must be used.
    """
    if not isinstance(definition, Mapping):
        return [f"the definition must be a JSON object, got {type(definition).__name__}"]
    messages: list[str] = []
    _lint_machine(definition, "", substitutions or {}, messages)
    if substitutions is not None:
        messages.extend(_lint_placeholders(definition, substitutions))
    return messages


def _lint_machine(
    machine: Mapping[str, Any], scope: str, substitutions: Mapping[str, str], messages: list[str]
) -> None:
    states = machine.get("States")
    if not isinstance(states, Mapping) or not states:
        messages.append(f"{scope}States is missing or empty: a state machine needs at least one state")
        return
    names = ", ".join(f'"{n}"' for n in states)
    start = machine.get("StartAt")
    if not isinstance(start, str):
        messages.append(f"{scope}StartAt is missing: it must name the first state (one of {names})")
    elif start not in states:
        messages.append(f'{scope}StartAt "{start}" is not a state (states: {names})')

    terminal_found = False
    for name, state in states.items():
        where = f'{scope}State "{name}"'
        if not isinstance(state, Mapping):
            messages.append(f"{where}: must be a JSON object, got {type(state).__name__}")
            continue
        if len(name) > MAX_STATE_NAME_LENGTH:
            messages.append(f"{where}: the name is {len(name)} characters long, the limit is {MAX_STATE_NAME_LENGTH}")
        state_type = state.get("Type")
        for field, target in state_edges(state):
            if target not in states:
                messages.append(f'{where}: {field} "{target}" does not exist (states: {names})')
        if state_type in TERMINAL_TYPES or state.get("End") is True:
            terminal_found = True
        _lint_flow(where, state, state_type, messages)
        if state_type == "Task":
            _lint_task(where, state, substitutions, messages)
        elif state_type == "Choice":
            _lint_choice(where, state, messages)
        elif state_type == "Parallel":
            for index, branch in enumerate(_list(state.get("Branches"))):
                if isinstance(branch, Mapping):
                    _lint_machine(branch, f"{where} branch {index}: ", substitutions, messages)
        elif state_type == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if isinstance(processor, Mapping):
                _lint_machine(processor, f"{where} ItemProcessor: ", substitutions, messages)

    if not terminal_found:
        messages.append(f'{scope}no terminal state: at least one state needs "End": true or Type Succeed or Fail')
    if isinstance(start, str) and start in states:
        reachable = reachable_states(machine)
        for name in states:
            if name not in reachable:
                messages.append(f'{scope}State "{name}": not reachable from StartAt "{start}"')


def _lint_flow(where: str, state: Mapping[str, Any], state_type: Any, messages: list[str]) -> None:
    has_next = "Next" in state
    has_end = state.get("End") is True
    if state_type in NO_NEXT_TYPES:
        if has_next or "End" in state:
            messages.append(f"{where}: a {state_type} state takes neither Next nor End")
    elif has_next and has_end:
        messages.append(f"{where}: has both Next and End; keep one")
    elif not has_next and not has_end:
        messages.append(f'{where}: has neither Next nor "End": true')


def _lint_task(where: str, state: Mapping[str, Any], substitutions: Mapping[str, str], messages: list[str]) -> None:
    if "TimeoutSeconds" not in state and "TimeoutSecondsPath" not in state:
        messages.append(
            f"{where}: a Task needs TimeoutSeconds (or TimeoutSecondsPath); without one a lost "
            "task waits until the execution's one-year limit"
        )
    retriers = [r for r in _list(state.get("Retry")) if isinstance(r, Mapping)]
    if not retriers:
        messages.append(f"{where}: a Task needs a Retry (at least for transient errors)")
    if not [c for c in _list(state.get("Catch")) if isinstance(c, Mapping)]:
        messages.append(f"{where}: a Task needs a Catch that leads to the failure path")
    resource = _substitute(str(state.get("Resource", "")), substitutions)
    if retriers and _is_lambda(resource):
        retried = {str(e) for r in retriers for e in _list(r.get("ErrorEquals"))}
        missing = [] if "States.ALL" in retried else [e for e in LAMBDA_TRANSIENT_ERRORS if e not in retried]
        if missing:
            messages.append(f"{where}: Retry does not cover the transient Lambda errors {', '.join(missing)}")
    if (
        resource.endswith(".waitForTaskToken")
        and "HeartbeatSeconds" not in state
        and "HeartbeatSecondsPath" not in state
        and not _documents(state, "no heartbeat")
    ):
        messages.append(
            f"{where}: a .waitForTaskToken Task needs HeartbeatSeconds (or HeartbeatSecondsPath) "
            'so that a lost callback fails early, or a Comment saying why not ("No heartbeat: ...")'
        )


def _lint_choice(where: str, state: Mapping[str, Any], messages: list[str]) -> None:
    if not _list(state.get("Choices")):
        messages.append(f"{where}: a Choice state needs at least one rule in Choices")
    if "Default" not in state and not _documents(state, "no default"):
        messages.append(
            f"{where}: a Choice state without Default fails with States.NoChoiceMatched; add a "
            'Default or say in its Comment why none is needed ("No default: ...")'
        )


def _lint_placeholders(definition: Mapping[str, Any], substitutions: Mapping[str, str]) -> list[str]:
    used: dict[str, list[str]] = {}
    for location, value in _placeholder_scopes(definition):
        for text in _texts(value):
            for name in PLACEHOLDER.findall(text):
                places = used.setdefault(name, [])
                if location not in places:
                    places.append(location)
    messages = [
        f'placeholder "${{{name}}}" has no substitution in DefinitionSubstitutions (used in {", ".join(places)})'
        for name, places in used.items()
        if name not in substitutions
    ]
    messages.extend(
        f'substitution "{name}" in DefinitionSubstitutions is not used by the definition'
        for name in substitutions
        if name not in used
    )
    return messages


def _placeholder_scopes(definition: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(where, value): each top-level state (nested states count as theirs), then the rest."""
    for key, value in definition.items():
        if key == "States" and isinstance(value, Mapping):
            for name, state in value.items():
                yield f'State "{name}"', state
        else:
            yield f'"{key}"', value


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, child in value.items():
            yield str(key)
            yield from _texts(child)
    elif isinstance(value, list):
        for child in value:
            yield from _texts(child)


def _substitute(text: str, substitutions: Mapping[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: str(substitutions.get(m.group(1), m.group(0))), text)


def _is_lambda(resource: str) -> bool:
    return resource.startswith(_LAMBDA_INTEGRATION) or bool(_LAMBDA_FUNCTION_ARN.match(resource))


def _documents(state: Mapping[str, Any], phrase: str) -> bool:
    """Whether the state's Comment gives the reason for an exception to a rule ("No default: ...")."""
    return phrase in str(state.get("Comment", "")).lower()


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# --- DefinitionSubstitutions from a SAM template --------------------------------------------


def load_template(path: Path) -> dict[str, Any]:
    """A SAM/CloudFormation template (YAML or JSON), read by the runtime's loader (intrinsics in long form)."""
    return cfn_yaml.load(path.read_text(encoding="utf-8"))


def intrinsic_text(value: Any) -> str:
    """A substitution's value as text; an intrinsic reads as its short form (``!GetAtt A.Arn``)."""
    if isinstance(value, Mapping) and len(value) == 1:
        ((key, argument),) = value.items()
        name = str(key).removeprefix("Fn::")
        if key in ("Ref", "Condition") or str(key).startswith("Fn::"):
            if name == "GetAtt" and isinstance(argument, list) and all(isinstance(a, str) for a in argument):
                argument = ".".join(argument)
            text = argument if isinstance(argument, str) else json.dumps(argument, default=str)
            return f"!{name} {text}"
    return str(value)


def substitutions_for(template_path: Path, definition_path: Path) -> dict[str, str]:
    """DefinitionSubstitutions of the state machine in ``template_path`` that loads ``definition_path``."""
    template = load_template(template_path)
    resources = template.get("Resources", {}) if isinstance(template, Mapping) else {}
    machines = {
        name: resource.get("Properties", {}) or {}
        for name, resource in resources.items()
        if isinstance(resource, Mapping)
        and resource.get("Type") in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
    }
    wanted = definition_path.resolve()
    for properties in machines.values():
        uri = properties.get("DefinitionUri")
        if isinstance(uri, str) and (template_path.parent / uri).resolve() == wanted:
            return _as_text_mapping(properties.get("DefinitionSubstitutions") or {})
    known = ", ".join(f"{name} ({props.get('DefinitionUri')})" for name, props in machines.items()) or "none"
    raise LookupError(
        f"{template_path} has no state machine with DefinitionUri {definition_path} (state machines: {known})"
    )


def _as_text_mapping(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError(f"DefinitionSubstitutions must be a mapping, got {value!r}")
    return {str(key): intrinsic_text(item) for key, item in value.items()}


# --- command line ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stepdeploy_dev.asl_lint",
        description="Check an Amazon States Language file beyond what moto and cfn-lint check.",
    )
    parser.add_argument("file", type=Path, help="the .asl.json file")
    parser.add_argument(
        "--substitutions-from",
        type=Path,
        metavar="TEMPLATE",
        help="SAM template whose state machine loads FILE with DefinitionUri; its "
        "DefinitionSubstitutions are checked against the ${Name} placeholders",
    )
    args = parser.parse_args(argv)

    try:
        definition = json.loads(args.file.read_text(encoding="utf-8"))
    except OSError as error:
        print(f"{args.file}: cannot read: {error.strerror}", file=sys.stderr)
        return 1
    except json.JSONDecodeError as error:
        print(f"{args.file}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}")
        return 1

    substitutions: dict[str, str] | None = None
    if args.substitutions_from is not None:
        if not args.substitutions_from.exists():
            print(f"{args.substitutions_from} does not exist: placeholders not checked", file=sys.stderr)
        else:
            try:
                substitutions = substitutions_for(args.substitutions_from, args.file)
            except (LookupError, ValueError) as error:
                print(str(error))
                return 1

    messages = lint_asl(definition, substitutions)
    for message in messages:
        print(f"{args.file}: {message}")
    if messages:
        print(f"{args.file}: {len(messages)} problem(s)", file=sys.stderr)
        return 1
    print(f"{args.file}: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
