"""Parse each state machine definition and each JSONPath once, not once per execution and per use.

moto's interpreter parses the whole definition with its ANTLR grammar (pure Python, about a second
of CPU for the orchestrator's) every time an execution starts, and builds a new JSONPath parser (PLY
tables) for every path it evaluates. Under load (a hundred executions on two cores) that was most of
the local cloud's CPU. The parsed program is immutable once built: per-execution state (retry
counts, variables) lives in the execution's Environment, keyed by component, so one program serves
every execution of the same definition; parsed JSONPath expressions are immutable too.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from stepdeploy_localcloud.patching import wrap

MAX_DEFINITIONS = 64
MAX_PATHS = 4096

_programs: dict[str, Any] = {}
_programs_lock = threading.Lock()


def parsed_program(definition: str) -> Any:
    # Parsing under the lock: executions started together wait for one parse instead of each doing it.
    with _programs_lock:
        program = _programs.get(definition)
        if program is None:
            if len(_programs) >= MAX_DEFINITIONS:
                _programs.pop(next(iter(_programs)))
            program = _programs[definition] = AmazonStateLanguageParser.parse(definition)[0]
    return program


def _evaluation_entrypoint(original: Any) -> Any:
    def get(self: ExecutionWorker) -> Any:
        return parsed_program(self._evaluation_details.state_machine_details.definition)

    return get


def _cached_parse(original: Any) -> Any:
    return functools.lru_cache(maxsize=MAX_PATHS)(original)


def install() -> None:
    wrap(ExecutionWorker, "_get_evaluation_entrypoint", _evaluation_entrypoint)
    wrap(json_path, "parse", _cached_parse)
    wrap(result_path, "parse", _cached_parse)
