// The stepdeploy dashboard: polls the JSON API and draws what it answers. No state of its own.
"use strict";

const FAST = 2000;   // while something runs
const SLOW = 10000;  // otherwise
const SVG = "http://www.w3.org/2000/svg";
let timer = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function short(commit) { return commit && commit.length === 40 ? commit.slice(0, 7) : (commit || "-"); }

function ago(text) {
  if (!text) return "-";
  const seconds = (Date.now() - Date.parse(text)) / 1000;
  if (seconds < 0) return "just now";
  for (const [size, unit] of [[86400, "d"], [3600, "h"], [60, "m"]]) {
    if (seconds >= size) return `${Math.floor(seconds / size)}${unit} ago`;
  }
  return `${Math.floor(seconds)}s ago`;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  if (seconds < 60) return `${Number(seconds).toFixed(1)}s`;
  const minutes = Math.floor(Math.round(seconds) / 60), rest = Math.round(seconds) % 60;
  if (minutes < 60) return `${minutes}m${String(rest).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

function badge(status) { return el("span", {class: `badge ${String(status).toLowerCase()}`}, status || "-"); }

function execLink(name) { return el("a", {href: `#execution=${encodeURIComponent(name)}`}, name); }

async function getJson(path) {
  const response = await fetch(path, {cache: "no-store"});
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

const CONFIRM = {
  pause: (r) => `Pause the release of ${r.stack} at ${r.percent}%? The aliases keep their weights until you resume it.`,
  resume: (r) => r.paused_reason === "inconclusive"
    ? `Resume the release of ${r.stack}? Its step could not be judged: it goes on to the next step.`
    : `Resume the release of ${r.stack}? The step's pause starts again, then the step is judged.`,
  promote: (r) => `Promote the release of ${r.stack}: every alias to 100% of its new version now, skipping the rest?`,
  abort: (r) => r.engine === "codedeploy"
    ? `Abort the release of ${r.stack}: stop its CodeDeploy deployments and roll every alias back?`
    : `Abort the release of ${r.stack}: every alias back on its previous version now?`,
};

async function act(verb, name, release) {
  let comment = "";
  if (verb === "reject" || verb === "stop") {
    comment = window.prompt(`Why ${verb} ${name}?`, "") ;
    if (comment === null) return;
  } else if (CONFIRM[verb] && release) {
    if (!window.confirm(CONFIRM[verb](release))) return;
  }
  let body;
  let ok = false;
  try {
    const response = await fetch(`api/action/${verb}?ref=${encodeURIComponent(name)}`, {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-Stepdeploy-Dashboard": "1"},
      body: JSON.stringify({comment}),
    });
    body = await response.json();
    ok = response.ok;
  } catch (error) {
    body = {error: `${verb} failed: ${error.message}`};
  }
  outcome(ok ? done(verb, name, body) : (body.error || `${verb} failed`), ok);
  refresh();
}

function done(verb, name, result) {
  if (result.engine === "codedeploy") {
    return `abort: stopped ${result.stopped_deployments.length} CodeDeploy deployment(s) of ${result.stack} ` +
      `with rollback, as ${result.by}`;
  }
  if (result.engine === "stepdeploy") {
    return `${verb} sent to the release of ${result.stack} (at ${result.percent}%) as ${result.by}` +
      (result.woken ? "; it acts on it now" : "; it acts on it when its current step ends its work");
  }
  return `${verb}: ${name} done`;
}

// The last action's result or error: it stays until the next action or another page (a refresh keeps it).
function outcome(message, ok) {
  const box = document.getElementById("outcome");
  box.textContent = message || "";
  box.className = ok ? "outcome ok" : "outcome error";
  box.hidden = !message;
}

function verbButton(verb, name, release) {
  return el("button", {class: `verb ${verb}`, "data-verb": verb, "data-execution": name,
                       onclick: () => act(verb, name, release)}, verb[0].toUpperCase() + verb.slice(1));
}

function showProblem(message) {
  const box = document.getElementById("problem");
  box.textContent = message;
  box.hidden = !message;
}

function notice(message) { document.getElementById("refreshed").textContent = message; }

function fill(tableId, rows, empty) {
  const body = document.querySelector(`#${tableId} tbody`);
  const columns = document.querySelectorAll(`#${tableId} thead th`).length;
  body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", {colspan: columns, class: "muted"}, empty))]));
}

// --- overview --------------------------------------------------------------------------------------
function drawOverview(data) {
  document.getElementById("orchestrator").textContent =
    `orchestrator ${data.orchestrator} · ${data.state_machine_arn.split(":").pop()}`;
  fill("stacks", data.stacks.map((s) => el("tr", {"data-stack": s.stack},
    el("td", {class: "id"}, s.stack), el("td", {}, s.environment || "-"),
    el("td", {class: "id"}, s.execution_name ? execLink(s.execution_name) : "-"),
    el("td", {}, badge(s.outcome)), el("td", {class: "id"}, short(s.commit)), el("td", {}, s.pusher || "-"),
    el("td", {title: s.ended_at || ""}, ago(s.ended_at || s.started_at)), el("td", {}, duration(s.duration_seconds)),
    el("td", {class: "id"}, s.deploying ? execLink(s.deploying) : "-"))), "no release recorded yet");
  fill("approvals", data.approvals.map((a) => el("tr", {"data-approval": a.name},
    el("td", {class: "id"}, execLink(a.name)), el("td", {}, a.stack || "-"), el("td", {class: "id"}, short(a.commit)),
    el("td", {}, a.changes), el("td", {}, verbButton("approve", a.name), " ", verbButton("reject", a.name)))),
    "no execution waits for approval");
  fill("executions", data.executions.map((x) => el("tr", {"data-execution": x.name},
    el("td", {class: "id"}, execLink(x.name)), el("td", {}, badge(x.status)), el("td", {}, x.outcome || "-"),
    el("td", {}, x.stack || "-"), el("td", {class: "id"}, short(x.commit)), el("td", {}, x.pusher || "-"),
    el("td", {title: x.started_at || ""}, ago(x.started_at)), el("td", {}, duration(x.duration_seconds)))),
    "no executions yet");
  document.getElementById("dora-title").textContent = `DORA figures, last ${data.dora_window_days} days`;
  drawDora(data.dora);
  return data.running > 0 || data.approvals.length > 0;
}

function barChart(title, rows, format) {
  const width = 260, bar = 18, gap = 6, label = 110;
  const max = Math.max(...rows.map((r) => r.value || 0), 1e-9);
  const chart = svg("svg", {width, height: rows.length * (bar + gap) + 4, class: "bars"});
  rows.forEach((row, i) => {
    const y = i * (bar + gap);
    const length = row.value === null ? 0 : Math.max(2, ((width - label - 60) * row.value) / max);
    chart.append(svg("text", {x: 0, y: y + 13, class: "label"}, row.label));
    chart.append(svg("rect", {x: label, y, width: length, height: bar, rx: 3, class: "bar"}));
    chart.append(svg("text", {x: label + length + 4, y: y + 13, class: "value"}, format(row.value)));
  });
  return el("figure", {class: "chart"}, el("figcaption", {}, title), chart);
}

function drawDora(figures) {
  const box = document.getElementById("dora");
  if (!figures.length) { box.replaceChildren(el("p", {class: "muted"}, "no release ended in the window")); return; }
  const rows = (key) => figures.map((f) => ({label: f.stack, value: f[key]}));
  const percent = (v) => v === null ? "-" : `${Math.round(v * 100)}%`;
  box.replaceChildren(
    barChart("deployments per day", rows("deployments_per_day"), (v) => (v === null ? "-" : String(v))),
    barChart("lead time, median", rows("lead_time_median_seconds"), duration),
    barChart("change failure rate", rows("change_failure_rate"), percent),
    barChart("time to restore, median", rows("restore_median_seconds"), duration),
  );
}

// --- one execution ---------------------------------------------------------------------------------
function drawGraph(graph, status, current) {
  const pad = 8, w = graph.node_width, h = graph.node_height;
  const root = svg("svg", {width: graph.width + 2 * pad + 40, height: graph.height + 2 * pad, class: "graph"});
  const at = Object.fromEntries(graph.nodes.map((n) => [n.name, n]));
  const layer = svg("g", {transform: `translate(${pad},${pad})`});
  for (const edge of graph.edges) {
    const a = at[edge.source], b = at[edge.target];
    let path;
    if (edge.kind === "loop") {
      const x = Math.max(a.x, b.x) + w, bend = x + 24;
      path = `M${a.x + w},${a.y + h / 2} C${bend},${a.y + h / 2} ${bend},${b.y + h / 2} ${b.x + w},${b.y + h / 2}`;
    } else {
      path = `M${a.x + w / 2},${a.y + h} L${b.x + w / 2},${b.y}`;
    }
    layer.append(svg("path", {d: path, class: `edge ${edge.kind}`}));
  }
  for (const node of graph.nodes) {
    const state = status[node.name] || "unvisited";
    const group = svg("g", {class: `node ${state}${node.name === current ? " current" : ""} ${node.type.toLowerCase()}`,
                            "data-state": node.name, "data-status": state});
    group.append(svg("rect", {x: node.x, y: node.y, width: w, height: h, rx: node.type === "Choice" ? 14 : 4}));
    group.append(svg("text", {x: node.x + w / 2, y: node.y + h / 2 + 4, "text-anchor": "middle"}, node.name));
    group.append(svg("title", {}, `${node.name} (${node.type}): ${state}`));
    layer.append(group);
  }
  root.append(layer);
  document.getElementById("ex-graph").replaceChildren(root);
}

function section(id, ...content) {
  const box = document.getElementById(id);
  box.hidden = content.length === 0;
  box.querySelector(".body").replaceChildren(...content);
}

function drawTraffic(traffic) {
  if (!traffic) { section("ex-traffic"); return; }
  section("ex-traffic", ...traffic.functions.map((f) => {
    const share = Math.round(f.new_share * 100);
    const parts = [el("div", {class: "traffic-line", "data-function": f.function},
      el("strong", {}, f.function), ` alias ${f.alias}: `,
      el("span", {class: "split-text"}, Object.entries(f.split).map(([v, w]) => `v${v} ${Math.round(w * 100)}%`).join(", ")))];
    parts.push(el("div", {class: "meter"}, el("div", {class: "new", style: `width:${share}%`}, `v${f.new_version} ${share}%`)));
    if (f.schedule) {
      const s = f.schedule;
      const steps = s.steps.map((step, i) => el("li", {class: i === s.current ? "current" : ""},
        `${step.percent}% at +${step.offset_minutes}m` + (i === s.current ? " (now)" : "")));
      const next = s.next ? `next: ${s.next.percent}% at +${s.next.offset_minutes}m` +
        (s.next_at ? `, ${new Date(s.next_at).toLocaleTimeString()} (${duration(Math.max(0, (Date.parse(s.next_at) - Date.now()) / 1000))} from now)` : "") :
        "last step taken";
      parts.push(el("div", {class: "schedule"}, `${s.config}: `, el("ol", {}, steps), next));
    }
    return el("div", {class: "traffic"}, ...parts);
  }));
}

const PAUSED = {operator: "paused by an operator", inconclusive: "paused: the step could not be judged (Inconclusive); decide"};

function journalDetail(entry) {
  if (entry.type === "step") return `every alias at ${entry.percent}%`;
  if (entry.type === "judgement") return `${entry.verdict}: ${entry.summary}`;
  if (entry.type === "command") return `${entry.verb} by ${entry.by} at ${entry.percent}%`;
  return `${entry.reason || ""}: ${(entry.aliases || []).join(", ")}`;
}

function drawRelease(x) {
  const r = x.release;
  if (!r) { section("ex-release"); return; }
  const verbs = el("div", {class: "verbs release-verbs"}, ...r.verbs.map((verb) => verbButton(verb, x.name, r)));
  if (r.engine === "codedeploy") {
    section("ex-release", el("p", {class: "muted"}, `CodeDeploy shifts the traffic of ${r.stack}: it cannot be ` +
      "paused, resumed or promoted, only stopped with rollback."), verbs);
    return;
  }
  const steps = r.steps || [];
  const status = el("p", {class: "release-status"}, badge(r.status),
    el("span", {"data-release-status": r.status}, ` at ${r.percent}%`),
    r.step >= 0 ? ` (step ${r.step + 1} of ${steps.length})` : " (before its first step)",
    r.paused_reason ? el("span", {class: "waiting"}, ` ${PAUSED[r.paused_reason] || `paused: ${r.paused_reason}`}`) : null,
    r.command ? el("span", {class: "muted"}, ` · ${r.command.verb} by ${r.command.by}, pending`) : null);
  const ladder = el("ol", {class: "steps"}, ...steps.map((percent, i) =>
    el("li", {class: i < r.step ? "passed" : i === r.step ? "current" : ""}, `${percent}%`)));
  const aliases = r.functions.map((f) => {
    const share = f.new_share === null ? null : Math.round(f.new_share * 100);
    return el("div", {class: "traffic-line", "data-function": f.function},
      el("strong", {}, f.function), ` alias ${f.alias}: v${f.old_version} -> v${f.new_version}`,
      f.split ? el("span", {class: "split-text"}, " · " + Object.entries(f.split).map(([v, w]) =>
        `v${v} ${Math.round(w * 100)}%`).join(", ")) : null,
      share === null ? null : el("div", {class: "meter"}, el("div", {class: "new", style: `width:${share}%`},
        `v${f.new_version} ${share}%`)));
  });
  const journal = el("table", {class: "journal"}, el("thead", {}, el("tr", {}, el("th", {}, "at"),
    el("th", {}, "what"), el("th", {}, "detail"))), el("tbody", {}, ...r.journal.map((entry) =>
    el("tr", {"data-entry": entry.type}, el("td", {title: entry.at}, ago(entry.at)), el("td", {}, entry.type),
      el("td", {}, journalDetail(entry))))));
  const problem = r.weights_problem ? el("p", {class: "muted"}, r.weights_problem) : null;
  section("ex-release", ...[status, el("div", {class: "schedule"}, "steps: ", ladder), ...aliases, problem, verbs,
    journal].filter(Boolean));
}

function drawBake(bake) {
  if (!bake) { section("ex-bake"); return; }
  section("ex-bake", el("p", {}, `baking until ${bake.until}: ${duration(bake.left_now_seconds)} left`,
    bake.alarms.length ? `, watching ${bake.alarms.join(", ")}` : ""));
}

function drawFailure(x) {
  const parts = [];
  if (x.error && x.status !== "RUNNING") {
    parts.push(el("p", {class: "error"}, el("strong", {}, x.error), ": ", x.cause || ""));
  }
  if (x.build_log && x.error && x.status !== "RUNNING") {
    const log = x.build_log;
    parts.push(el("p", {class: "muted"}, log.problem ? `build log: ${log.problem}` :
      `build log ${log.group}/${log.stream}: last ${log.lines.length} of ${log.total} lines`));
    if (log.lines.length) parts.push(el("pre", {class: "log"}, log.lines.join("\n")));
  }
  section("ex-failure", ...parts);
}

function drawExecution(x) {
  document.getElementById("ex-name").textContent = x.name;
  document.getElementById("ex-status").replaceWith(Object.assign(badge(x.status), {id: "ex-status"}));
  const facts = [["stack", x.stack], ["current state", x.current_state], ["outcome", x.outcome],
    ["trigger", [x.source, x.repository, x.branch, x.commit ? `@ ${short(x.commit)}` : null,
      x.pusher ? `by ${x.pusher}` : null].filter(Boolean).join(" ")],
    ["started", x.started_at ? `${x.started_at} (${ago(x.started_at)})` : null],
    ["took", x.duration_seconds !== null ? duration(x.duration_seconds) : null],
    ["redriven", x.redrive_count ? `${x.redrive_count}x` : null], ["ARN", x.execution_arn]];
  document.getElementById("ex-facts").replaceChildren(...facts.filter(([, v]) => v).flatMap(([k, v]) =>
    [el("dt", {}, k), el("dd", {class: k === "ARN" ? "id" : "", "data-fact": k}, v)]));
  const verbs = document.getElementById("ex-verbs");
  verbs.replaceChildren(...(x.approval ? [el("span", {class: "waiting"}, "waiting for approval ")] : []),
    ...x.verbs.map((verb) => verbButton(verb, x.name)));
  drawTraffic(x.traffic);
  drawRelease(x);
  drawBake(x.bake);
  drawFailure(x);
  drawGraph(x.graph, x.state_status, x.current_state);
  fill("ex-states", x.states.map((s) => el("tr", {class: s.status},
    el("td", {}, s.name), el("td", {}, `+${(s.offset_seconds || 0).toFixed(1)}s`), el("td", {}, s.seconds.toFixed(2)),
    el("td", {}, s.attempts > 1 ? s.attempts : ""), el("td", {}, s.error ? `${s.status}: ${s.error}` : s.status))),
    "no state entered yet");
  return x.status === "RUNNING";
}

// --- pipelines -------------------------------------------------------------------------------------
const GATES = {
  building: () => "building the artifact",
  checking: (g) => `checking the gates (${g.state})`,
  window: (g) => `waiting for its deployment window: ${g.reason || ""}`,
  soak: (g) => `waiting for the soak of the stage before: ${g.reason || ""}`,
  gate: (g) => `waiting at its gates: ${g.reason || ""}`,
  approval: (g) => `waiting for approval${typeof g.changes === "number" ? ` (${g.changes} change${g.changes === 1 ? "" : "s"})` : ""}`,
  deploying: (g) => `deploying${g.state ? `: ${g.state}` : ""}`,
};

function gateLine(run) {
  const g = run.gate;
  const parts = [el("span", {class: `gate-kind ${g.kind}`}, g.kind), " ", (GATES[g.kind] || GATES.deploying)(g)];
  if (g.child) parts.push(" · ", el("span", {class: "id"}, execLink(g.child)));
  if (g.kind === "approval") parts.push(" ", verbButton("approve", g.child), " ", verbButton("reject", g.child));
  return el("div", {class: "gate", "data-gate": g.kind, "data-run": run.execution_name}, ...parts);
}

const LIVE = ["Deployed", "NoChanges"];

function outcomeBadge(outcome) {
  const node = badge(outcome);
  if (!LIVE.includes(outcome) && outcome !== "Superseded") node.classList.add("failed");
  return node;
}

function stageCard(stage, runs) {
  const here = runs.filter((r) => r.stage === stage.stage);
  const changed = stage.last_outcome && stage.last_commit !== stage.commit;
  return el("div", {class: "stage-box"},
    ...here.map((run) => el("div", {class: "arriving"}, el("span", {class: "id"}, short(run.commit)), " ", gateLine(run))),
    el("div", {class: "stage", "data-stage": stage.stage},
      el("div", {class: "stage-name"}, stage.stage), el("div", {class: "id muted"}, stage.stack),
      el("div", {class: "live"}, "live: ", el("span", {class: "id", "data-live": stage.stage}, short(stage.commit)),
        stage.deployed_at ? el("span", {class: "muted", title: stage.deployed_at}, ` · ${ago(stage.deployed_at)}`) : null),
      el("div", {}, "last attempt: ", stage.last_outcome ? outcomeBadge(stage.last_outcome) : "-",
        changed ? el("span", {class: "id"}, ` ${short(stage.last_commit)}`) : null),
      stage.release ? el("div", {class: "id"}, execLink(stage.release)) : null));
}

function drawPipelines(data) {
  const box = document.getElementById("pipeline-list");
  if (!data.pipelines.length) {
    box.replaceChildren(el("p", {class: "muted"}, "no pipeline recorded yet (a target with pipeline: [stages] in " +
      "stepdeploy.yml; see docs/stages.md)"));
    return false;
  }
  box.replaceChildren(...data.pipelines.map((p) => el("section", {class: "pipeline", "data-pipeline": p.name},
    el("h3", {}, `pipeline ${p.name}`),
    ...p.running.map((run) => el("p", {class: "running-run"}, badge("RUNNING"), " ", execLink(run.execution_name),
      ` ${short(run.commit)}${run.pusher ? ` by ${run.pusher}` : ""}`,
      run.stage ? ` · promoting into ${run.stage}` : " · before its first stage",
      run.stage ? null : el("span", {}, " · ", gateLine(run)))),
    el("div", {class: "stages"}, ...p.stages.flatMap((stage, i) =>
      [i ? el("div", {class: "arrow"}, "\u2192") : null, stageCard(stage, p.running)]).filter(Boolean)))));
  return data.pipelines.some((p) => p.running.length > 0);
}

// --- routing and polling -----------------------------------------------------------------------------
function selected() {
  const match = /^#execution=(.+)$/.exec(window.location.hash);
  if (match) return {view: "execution", name: decodeURIComponent(match[1])};
  return {view: window.location.hash === "#pipelines" ? "pipelines" : "overview"};
}

async function refresh() {
  clearTimeout(timer);
  const at = selected();
  for (const view of ["overview", "execution", "pipelines"]) document.getElementById(view).hidden = at.view !== view;
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("here", a.dataset.view === at.view));
  let busy = false;
  try {
    if (at.view === "execution") busy = drawExecution(await getJson(`api/execution?ref=${encodeURIComponent(at.name)}`));
    else if (at.view === "pipelines") busy = drawPipelines(await getJson("api/pipelines"));
    else busy = drawOverview(await getJson("api/overview"));
    showProblem("");
    document.body.dataset.loaded = "true";
    notice(`refreshed ${new Date().toLocaleTimeString()}${busy ? " · live" : ""}`);
  } catch (error) {
    showProblem(error.message);
  }
  timer = setTimeout(refresh, busy ? FAST : SLOW);
}

window.addEventListener("hashchange", () => { outcome(""); refresh(); });
refresh();
