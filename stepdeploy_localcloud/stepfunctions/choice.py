"""Choice states fail as on AWS instead of quietly taking the Default.

- A rule whose Variable path is not in the input fails the execution with States.Runtime
  ("Invalid path '$.x': The choice state's condition path references an invalid value."); moto
  treats the rule as false, so a polling loop on a field a task forgot to return spins forever.
  The type tests (IsPresent, the rule made for missing fields, IsNull, IsString ...) keep
  moto's answer.
- No rule matched and no Default: States.NoChoiceMatched (moto: States.Runtime wrapping a
  Python RuntimeError).
"""

from __future__ import annotations

from typing import Any

from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.choice.comparison.comparison_operator_type import (
    ComparisonOperatorType,
)
from moto.stepfunctions.parser.asl.component.state.choice.comparison.comparison_variable import (
    ComparisonVariable,
)
from moto.stepfunctions.parser.asl.component.state.choice.comparison.variable import NoSuchVariable
from moto.stepfunctions.parser.asl.component.state.choice.state_choice import StateChoice
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

from stepdeploy_localcloud.patching import wrap

_TYPE_TESTS = frozenset(
    {
        ComparisonOperatorType.IsPresent,
        ComparisonOperatorType.IsNull,
        ComparisonOperatorType.IsNumeric,
        ComparisonOperatorType.IsString,
        ComparisonOperatorType.IsBoolean,
        ComparisonOperatorType.IsTimestamp,
    }
)


def _failure(env: Environment, error_type: StatesErrorNameType, cause: str) -> FailureEventException:
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=error_type),
            event_type=HistoryEventType.ExecutionFailed,
            event_details=EventDetails(
                executionFailedEventDetails=ExecutionFailedEventDetails(error=error_type.to_name(), cause=cause)
            ),
        )
    )


def _comparison_eval_body(original: Any) -> Any:
    def eval_body(self: ComparisonVariable, env: Environment) -> None:
        self.variable.eval(env)
        if isinstance(env.stack[-1], NoSuchVariable) and self.comparison_function.operator_type not in _TYPE_TESTS:
            path = self.variable.string_sampler.literal_value
            raise _failure(
                env,
                StatesErrorNameType.StatesRuntime,
                f"Invalid path '{path}': The choice state's condition path references an invalid value.",
            )
        self.comparison_function.eval(env)

    return eval_body


def _choice_eval_state(original: Any) -> Any:
    def eval_state(self: StateChoice, env: Environment) -> None:
        if self.default_state is not None:
            original(self, env)
            return
        try:
            original(self, env)
        except RuntimeError as error:
            if "No branching option reached" not in str(error):
                raise
            raise _failure(
                env,
                StatesErrorNameType.StatesNoChoiceMatched,
                f"No Choice Rule matched and no Default in state '{self.name}'",
            ) from error

    return eval_state


def install() -> None:
    wrap(ComparisonVariable, "_eval_body", _comparison_eval_body)
    wrap(StateChoice, "_eval_state", _choice_eval_state)
