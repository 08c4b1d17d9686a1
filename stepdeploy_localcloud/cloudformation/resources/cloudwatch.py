"""AWS::CloudWatch::Alarm."""

from __future__ import annotations

from typing import Any

from stepdeploy_localcloud.cloudformation.resources.base import (
    Provisioned,
    ResourceContext,
    ResourceHandler,
    as_bool,
    as_int,
    required_property,
)


class AlarmHandler(ResourceHandler):
    resource_type = "AWS::CloudWatch::Alarm"
    replace_on = frozenset({"AlarmName"})
    name_property = "AlarmName"

    def _put(self, ctx: ResourceContext, name: str, props: dict[str, Any]) -> Provisioned:
        from moto.cloudwatch.models import MetricDataQuery

        queries = None
        if props.get("Metrics"):
            queries = [
                MetricDataQuery(
                    query_id=m["Id"],
                    label=m.get("Label", ""),
                    period=m.get("Period"),
                    return_data=m.get("ReturnData"),
                    expression=m.get("Expression"),
                    metric_stat=m.get("MetricStat"),
                    account_id=m.get("AccountId"),
                )
                for m in props["Metrics"]
            ]
        alarm = ctx.backend("cloudwatch").put_metric_alarm(
            name=name,
            namespace=props.get("Namespace"),
            metric_name=props.get("MetricName"),
            comparison_operator=required_property(props, "ComparisonOperator", ctx),
            evaluation_periods=int(required_property(props, "EvaluationPeriods", ctx)),
            period=as_int(props.get("Period")),
            threshold=float(props["Threshold"]) if "Threshold" in props else None,
            statistic=props.get("Statistic"),
            description=props.get("AlarmDescription"),
            dimensions=props.get("Dimensions") or [],
            alarm_actions=props.get("AlarmActions") or [],
            metric_data_queries=queries,
            datapoints_to_alarm=as_int(props.get("DatapointsToAlarm")),
            extended_statistic=props.get("ExtendedStatistic"),
            ok_actions=props.get("OKActions") or [],
            insufficient_data_actions=props.get("InsufficientDataActions") or [],
            unit=props.get("Unit"),
            actions_enabled=bool(as_bool(props.get("ActionsEnabled", True))),
            treat_missing_data=props.get("TreatMissingData"),
            evaluate_low_sample_count_percentile=props.get("EvaluateLowSampleCountPercentile"),
            threshold_metric_id=props.get("ThresholdMetricId"),
            tags=props.get("Tags") or [],
        )
        return Provisioned(name, {"Arn": alarm.alarm_arn})

    def create(self, ctx: ResourceContext, props: dict[str, Any]) -> Provisioned:
        return self._put(ctx, self.physical_name(ctx, props, max_length=255), props)

    def update(
        self, ctx: ResourceContext, current: Provisioned, old: dict[str, Any], new: dict[str, Any]
    ) -> Provisioned:
        return self._put(ctx, current.physical_id, new)

    def delete(self, ctx: ResourceContext, current: Provisioned, props: dict[str, Any]) -> None:
        ctx.backend("cloudwatch").delete_alarms([current.physical_id])
