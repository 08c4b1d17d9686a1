"""The orchestrator's DynamoDB table: stack locks, webhook deliveries, approvals and the release ledger.

One table, keys by purpose:
  stack#<stack> / lock                      who deploys the stack now (lease)
  stack#<stack> / latest                    newest request for the stack (superseded mode)
  stack#<stack> / wait#<requested>#<exec>   queue of waiting executions (queued mode)
  stack#<stack> / waiter#<exec>             the task token of an execution in "Wait for lock" (to wake it)
  stack#<stack> / release#<ended>#<exec>    one item per finished execution (the ledger)
  releases / <stack>                        the latest release of each stack
  execution#<arn> / execution               which stack an execution works on
  delivery#<id> / delivery                  webhook deliveries seen (deduplication)
  approval / <execution arn>                task tokens of executions waiting for approval
  waiting#<wait id> / wait                  a task token waiting on a service's events, and the operation
                                            keys still pending (see put_wait)
  wait#<kind>#<operation key> / wait        which wait an operation's event resumes
  stack#<stack> / progress#control          the step engine's running release: status, step, and an
                                            operator's pending command (pause, resume, promote, abort)
  stack#<stack> / progress#<exec>#<n>       its journal: each step, judgement and command, in order
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from stepdeploy.aws.clients import client, error_code
from stepdeploy.errors import StackLocked, Superseded

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient, DynamoDBServiceResource

DELIVERY_TTL_SECONDS = 30 * 86400
RELEASE_TTL_SECONDS = 400 * 86400
WAIT_TTL_SECONDS = 2 * 86400


def _is_conditional_failure(exc: ClientError) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


def plain(value: Any) -> Any:
    """An item as DynamoDB returns it, with its Decimals as ints and floats."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_to_dynamo(v) for v in value]
    return value


def create_ledger_table(dynamodb: DynamoDBClient, table_name: str) -> None:
    """The ledger's table as template.yaml declares it (pk, sk; on demand): for moto in tests and benchmarks."""
    dynamodb.create_table(
        TableName=table_name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )


LEASE_ONLY_OWNERS = ("rollback:",)
"""Lock owners that are not Step Functions executions (`stepdeploy rollback`): alive while their lease is."""


def holder_is_alive(holder: dict[str, Any], overdue: bool, is_running: Callable[[str], bool]) -> bool:
    owner = str(holder.get("owner") or "")
    if owner.startswith(LEASE_ONLY_OWNERS):
        return not overdue
    return is_running(owner)


class Ledger:
    def __init__(self, table_name: str, dynamodb_resource: DynamoDBServiceResource | None = None) -> None:
        resource = dynamodb_resource
        if resource is None:
            import boto3

            resource = boto3.resource("dynamodb", config=client("dynamodb").meta.config)
        self.table = resource.Table(table_name)

    # --- deliveries ----------------------------------------------------------------------------
    def remember_delivery(self, delivery_id: str, repository: str, commit: str) -> bool:
        """True the first time a delivery id is seen, False for a redelivery or a retry."""
        try:
            self.table.put_item(
                Item={
                    "pk": f"delivery#{delivery_id}",
                    "sk": "delivery",
                    "repository": repository,
                    "commit": commit,
                    "expires_at": int(time.time()) + DELIVERY_TTL_SECONDS,
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def forget_delivery(self, delivery_id: str) -> None:
        self.table.delete_item(Key={"pk": f"delivery#{delivery_id}", "sk": "delivery"})

    # --- locks ---------------------------------------------------------------------------------
    def acquire_lock(
        self,
        *,
        stack: str,
        owner: str,
        commit: str,
        requested_at: str,
        mode: str,
        lease_seconds: int,
        is_running: Callable[[str], bool],
        superseding: Callable[[str], object] | None = None,
    ) -> dict[str, Any]:
        """The lock, or StackLocked (``holder``: the lock's item, None while it is free but earlier pushes are
        queued first). ``superseding`` is called with the execution this one's registration replaced as the
        newest request for the target (superseded mode), so that it can be told at once."""
        pk = f"stack#{stack}"
        self.table.put_item(
            Item={"pk": f"execution#{owner}", "sk": "execution", "stack": stack, "commit": commit,
                  "expires_at": int(time.time()) + RELEASE_TTL_SECONDS}
        )
        if mode == "superseded":
            replaced = self._register_latest(pk, owner, commit, requested_at)
            if replaced and superseding is not None:
                superseding(replaced)
        else:
            self._wait_in_queue(stack, owner, requested_at, is_running)
        now = int(time.time())
        item: dict[str, Any] = {"pk": pk, "sk": "lock", "owner": owner, "commit": commit,
                "acquired_at": now, "lease_expires_at": now + lease_seconds}

        def locked(holder: dict[str, Any], overdue: bool) -> StackLocked:
            # A running holder past its lease is not robbed (two deployments on one stack): the waiter gives
            # up instead, and says why.
            return StackLocked(
                f"stack {stack} is being deployed by {holder['owner']} (commit {holder.get('commit', '?')[:7]})"
                + (" and its lease has expired: it has held the lock longer than it may" if overdue else ""),
                holder=holder, overdue=overdue,
            )

        for _ in range(2):
            if self._put_lock(stack, item, is_running, locked):
                break
        else:
            raise StackLocked(f"stack {stack}: the lock changed hands while acquiring it; trying again")
        if mode == "queued":
            self.table.delete_item(Key={"pk": pk, "sk": f"wait#{requested_at}#{owner}"})
        return dict(plain(item))

    def _register_latest(self, pk: str, owner: str, commit: str, requested_at: str) -> str | None:
        """Register this request as the target's newest; the owner of the one it replaced (None: none, or itself)."""
        try:
            answer = self.table.put_item(
                Item={"pk": pk, "sk": "latest", "owner": owner, "commit": commit, "requested_at": requested_at},
                ConditionExpression="attribute_not_exists(pk) OR requested_at <= :mine OR #o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":mine": requested_at, ":me": owner},
                ReturnValues="ALL_OLD",
            )
            previous = str((answer.get("Attributes") or {}).get("owner") or "")
            return previous if previous and previous != owner else None
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            newer = self.table.get_item(Key={"pk": pk, "sk": "latest"}).get("Item", {})
            raise Superseded(
                f"superseded by commit {str(newer.get('commit', '?'))[:7]} ({str(newer.get('owner', '?'))}), "
                "a newer push to the same target"
            ) from None

    def register_at_gate(self, stack: str, owner: str, commit: str, requested_at: str) -> str | None:
        """This request reached the gate before ``stack``'s stage: Superseded if a newer one reached it too
        (superseded mode: nobody promotes a stale commit); the owner of the older one it replaced."""
        return self._register_latest(f"gate#{stack}", owner, commit, requested_at)

    def _wait_in_queue(self, stack: str, owner: str, requested_at: str, is_running: Callable[[str], bool]) -> None:
        pk = f"stack#{stack}"
        mine = f"wait#{requested_at}#{owner}"
        self.table.put_item(Item={"pk": pk, "sk": mine, "owner": owner, "requested_at": requested_at})
        waiting = self.table.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :w)",
            ExpressionAttributeValues={":pk": pk, ":w": "wait#"},
        )["Items"]
        for waiter in waiting:
            if waiter["sk"] == mine:
                return
            if is_running(str(waiter["owner"])):
                raise StackLocked(f"queued behind {str(waiter['owner'])}, which was triggered earlier",
                                  holder=self.lock_holder(stack))
            self.table.delete_item(Key={"pk": pk, "sk": waiter["sk"]})

    def _break_lock(self, pk: str, dead_owner: str) -> None:
        try:
            self.table.delete_item(
                Key={"pk": pk, "sk": "lock"},
                ConditionExpression="#o = :dead",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":dead": dead_owner},
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

    def ensure_lock(self, stack: str, owner: str, lease_seconds: int) -> bool:
        """Renew our lease, or take the lock back after a redrive; StackLocked if another has it.

        True when the lock was taken back (it was free, or another's lease had expired): the caller
        was not holding it, so whatever happened meanwhile must be checked (a redrive)."""
        now = int(time.time())
        try:
            answer = self.table.update_item(
                Key={"pk": f"stack#{stack}", "sk": "lock"},
                UpdateExpression="SET #o = :me, lease_expires_at = :lease",
                ConditionExpression="attribute_not_exists(pk) OR #o = :me OR lease_expires_at < :now",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": owner, ":lease": now + lease_seconds, ":now": now},
                ReturnValues="ALL_OLD",
            )
            return (answer.get("Attributes") or {}).get("owner") != owner
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            holder = self.lock_holder(stack) or {}
            raise StackLocked(
                f"stack {stack} was taken by {holder.get('owner', 'another execution')} while this one was "
                "stopped; wait for it, then redrive or replay"
            ) from None

    def take_lock(
        self, stack: str, owner: str, lease_seconds: int, is_running: Callable[[str], bool], commit: str = ""
    ) -> dict[str, Any]:
        """The lock for an operator's action (no queue, no superseding): StackLocked while a live holder has it."""

        def locked(holder: dict[str, Any], overdue: bool) -> StackLocked:
            return StackLocked(f"stack {stack} is being deployed by {holder['owner']} "
                               f"(commit {str(holder.get('commit') or '?')[:7]})", holder=holder, overdue=overdue)

        for _ in range(2):
            now = int(time.time())
            item: dict[str, Any] = {"pk": f"stack#{stack}", "sk": "lock", "owner": owner, "commit": commit,
                                    "acquired_at": now, "lease_expires_at": now + lease_seconds}
            if self._put_lock(stack, item, is_running, locked):
                return item
        raise StackLocked(f"stack {stack}: the lock changed hands while taking it; try again")

    def _put_lock(
        self, stack: str, item: dict[str, Any], is_running: Callable[[str], bool],
        locked: Callable[[dict[str, Any], bool], StackLocked],
    ) -> bool:
        """Write the lock's ``item`` unless another owner holds the lock. True: the lock is ``item``'s owner's;
        False: the holder was gone, or is no longer alive and its lock was broken (try again);
        ``locked(holder, overdue)`` is raised while a live holder has it."""
        try:
            self.table.put_item(
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR #o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": item["owner"]},
            )
            return True
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
        holder = self.lock_holder(stack)
        if holder is None:
            return False
        overdue = int(holder.get("lease_expires_at") or 0) < int(item["acquired_at"])
        if holder_is_alive(holder, overdue, is_running):
            raise locked(holder, overdue)
        self._break_lock(str(item["pk"]), str(holder["owner"]))
        return False

    def latest_request(self, stack: str) -> dict[str, Any] | None:
        """The newest request registered for the stack (superseded mode)."""
        item = self.table.get_item(Key={"pk": f"stack#{stack}", "sk": "latest"}, ConsistentRead=True).get("Item")
        return plain(item) if item else None

    def remember_stopped_deployments(self, execution_arn: str, deployment_ids: list[str]) -> None:
        """The CodeDeploy deployments the finaliser stopped when the execution failed (a redrive restarts them)."""
        if not deployment_ids:
            return
        self.table.update_item(
            Key={"pk": f"execution#{execution_arn}", "sk": "stopped-deployments"},
            UpdateExpression="ADD deployment_ids :ids SET expires_at = :exp",
            ExpressionAttributeValues={":ids": set(deployment_ids), ":exp": int(time.time()) + RELEASE_TTL_SECONDS},
        )

    def stopped_deployments(self, execution_arn: str) -> set[str]:
        item = self.table.get_item(Key={"pk": f"execution#{execution_arn}", "sk": "stopped-deployments"},
                                   ConsistentRead=True).get("Item") or {}
        ids: Any = item.get("deployment_ids") or ()  # a string set
        return {str(i) for i in ids}

    def lock_holder(self, stack: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": f"stack#{stack}", "sk": "lock"}, ConsistentRead=True).get("Item")
        return plain(item) if item else None

    def release_lock(self, stack: str, owner: str) -> bool:
        try:
            self.table.delete_item(
                Key={"pk": f"stack#{stack}", "sk": "lock"},
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": owner},
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def stack_of_execution(self, execution_arn: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": f"execution#{execution_arn}", "sk": "execution"}).get("Item")
        return plain(item) if item else None

    # --- releases ------------------------------------------------------------------------------
    def record_release(self, release: dict[str, Any], *, only_if_absent: bool = False) -> bool:
        """One item per execution, so a retry or a redrive overwrites, never adds.

        ``only_if_absent`` is for the finaliser: it must not overwrite what the pipeline recorded.
        """
        stack = release["stack"]
        execution_key = {"pk": f"execution#{release['execution_arn']}", "sk": "release"}
        existing = self.table.get_item(Key=execution_key, ConsistentRead=True).get("Item")
        if existing and only_if_absent:
            return False
        # The first record of an execution fixes its ledger key; later ones (redrive) reuse it.
        sort_key = (
            str(existing["ledger_sk"])
            if existing
            else f"release#{release['started_at']}#{release['execution_name']}"
        )
        expires = int(time.time()) + RELEASE_TTL_SECONDS
        try:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"} if only_if_absent else {}
            self.table.put_item(
                Item={**execution_key, "ledger_sk": sort_key, "stack": stack, "expires_at": expires}, **condition
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        item = _to_dynamo({**release, "expires_at": expires})
        self.table.put_item(Item={**item, "pk": f"stack#{stack}", "sk": sort_key})
        try:
            self.table.put_item(
                Item={**item, "pk": "releases", "sk": stack},
                ConditionExpression="attribute_not_exists(pk) OR started_at <= :s",
                ExpressionAttributeValues={":s": release["started_at"]},
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
        return True

    def commits_ahead_candidates(self, stack: str, repository: str) -> list[str]:
        """Commits of ``repository`` that are newer than a request for ``stack`` could be: the newest one
        registered for the stack (superseded mode) and the last one deployed to it."""
        commits: list[str] = []
        latest = self.table.get_item(Key={"pk": f"stack#{stack}", "sk": "latest"}).get("Item")
        if latest and latest.get("commit"):
            commits.append(str(latest["commit"]))
        deployed = next((r for r in self.releases_of(stack) if r.get("outcome") == "Deployed"), None)
        if deployed and deployed.get("repository") == repository and deployed.get("commit"):
            commits.append(str(deployed["commit"]))
        return list(dict.fromkeys(commits))

    def latest_releases(self) -> list[dict[str, Any]]:
        items = self.table.query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": "releases"})
        return [plain(i) for i in items["Items"]]

    def releases_of(self, stack: str, limit: int = 50) -> list[dict[str, Any]]:
        items = self.table.query(
            KeyConditionExpression="pk = :p AND begins_with(sk, :r)",
            ExpressionAttributeValues={":p": f"stack#{stack}", ":r": "release#"},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [plain(i) for i in items["Items"]]

    # --- waits on a service's event -----------------------------------------------------------
    @staticmethod
    def wait_id(task_token: str) -> str:
        return hashlib.sha256(task_token.encode()).hexdigest()[:40]

    def put_wait(
        self,
        *,
        kind: str,
        keys: Sequence[str],
        task_token: str,
        execution_arn: str,
        state: str,
        deadline: str | None = None,
        also: dict[str, list[str]] | None = None,
    ) -> str:
        """Keep ``task_token`` until the events of the operations ``keys`` (build id, stack id and
        ClientRequestToken, deployment ids, alarm names) resume it; returns the wait's id.

        Each key points at the wait; the wait lists the keys still pending. Only a stored key can
        resume it (resolve_wait), and only once (the wait item is deleted conditionally). ``also``: keys of
        other kinds whose event ends the wait at once (a release step's alarms, kind ``bake``).
        """
        wait_id = self.wait_id(task_token)
        expires_at = int(time.time()) + WAIT_TTL_SECONDS
        item: dict[str, Any] = {
            "pk": f"waiting#{wait_id}", "sk": "wait", "kind": kind, "task_token": task_token,
            "execution": execution_arn, "state": state, "keys": list(keys), "expires_at": expires_at,
        }
        if keys:
            item["pending"] = set(keys)
        if deadline:
            item["deadline"] = deadline
        pointers = [(kind, key) for key in keys] + [(k, key) for k, more in (also or {}).items() for key in more]
        if also:
            item["also"] = {k: list(more) for k, more in also.items() if more}
        self.table.put_item(Item=item)
        with self.table.batch_writer() as batch:
            for pointer_kind, key in dict.fromkeys(pointers):
                batch.put_item(Item={"pk": f"wait#{pointer_kind}#{key}", "sk": "wait", "wait_id": wait_id,
                                     "execution": execution_arn, "expires_at": expires_at})
        return wait_id

    def resolve_wait(self, kind: str, key: str, *, ends_wait: bool) -> dict[str, Any] | None:
        """An event says operation ``key`` ended: the wait to resume now (with its task token), if any.

        ``ends_wait``: this event alone ends the wait (a failure, an alarm); otherwise the key is
        done and the wait ends when no key is pending. None: no wait knows the key, another
        event resumed it already, or keys are still pending.
        """
        pointer = self.table.get_item(Key={"pk": f"wait#{kind}#{key}", "sk": "wait"}).get("Item")
        if pointer is None:
            return None
        wait_id = str(pointer["wait_id"])
        if not ends_wait:
            try:
                left = self.table.update_item(
                    Key={"pk": f"waiting#{wait_id}", "sk": "wait"},
                    UpdateExpression="DELETE pending :key",
                    ConditionExpression="attribute_exists(pk) AND contains(pending, :one)",
                    ExpressionAttributeValues={":key": {key}, ":one": key},
                    ReturnValues="ALL_NEW",
                )["Attributes"]
            except ClientError as exc:
                if _is_conditional_failure(exc):
                    return None
                raise
            if left.get("pending"):
                return None
        return self.consume_wait(wait_id)

    def consume_wait(self, wait_id: str) -> dict[str, Any] | None:
        """Take the wait out of the table; the caller alone may resume its token (None: already taken)."""
        try:
            old = self.table.delete_item(
                Key={"pk": f"waiting#{wait_id}", "sk": "wait"},
                ConditionExpression="attribute_exists(pk)",
                ReturnValues="ALL_OLD",
            ).get("Attributes")
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return None
            raise
        if not old:
            return None
        wait = dict(plain({k: v for k, v in old.items() if k != "pending"}))
        pointers = [(wait["kind"], key) for key in wait.get("keys", [])]
        pointers += [(kind, key) for kind, more in (wait.get("also") or {}).items() for key in more]
        for kind, key in pointers:
            try:  # only this wait's pointers: a newer wait on the same alarm keeps its own
                self.table.delete_item(
                    Key={"pk": f"wait#{kind}#{key}", "sk": "wait"},
                    ConditionExpression="wait_id = :mine",
                    ExpressionAttributeValues={":mine": wait_id},
                )
            except ClientError as exc:
                if not _is_conditional_failure(exc):
                    raise
        return wait

    # --- executions waiting for the lock ("Wait for lock") --------------------------------------
    def add_lock_waiter(self, stack: str, execution_arn: str, item: dict[str, Any], wait_seconds: int) -> None:
        """Where a holder that frees the lock (or a newer push) finds this waiter's task token."""
        self.table.put_item(Item=_to_dynamo({**item, "pk": f"stack#{stack}", "sk": f"waiter#{execution_arn}",
                                             "execution_arn": execution_arn,
                                             "expires_at": int(time.time()) + wait_seconds + 3600}))

    def lock_waiters(self, stack: str) -> list[dict[str, Any]]:
        items = self.table.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :w)",
            ExpressionAttributeValues={":pk": f"stack#{stack}", ":w": "waiter#"},
            ConsistentRead=True,
        )["Items"]
        return [plain(i) for i in items]

    def lock_waiter(self, stack: str, execution_arn: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": f"stack#{stack}", "sk": f"waiter#{execution_arn}"},
                                   ConsistentRead=True).get("Item")
        return plain(item) if item else None

    def remove_lock_waiter(self, stack: str, execution_arn: str, task_token: str | None = None) -> None:
        """Forget the waiter; with ``task_token``, only if it still waits with that token (not a newer wait)."""
        key = {"pk": f"stack#{stack}", "sk": f"waiter#{execution_arn}"}
        if task_token is None:
            self.table.delete_item(Key=key)
            return
        try:
            self.table.delete_item(Key=key, ConditionExpression="task_token = :t",
                                   ExpressionAttributeValues={":t": task_token})
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

    # --- the step engine's releases: control record and journal ------------------------------
    def start_progress(self, stack: str, execution_arn: str, item: dict[str, Any]) -> None:
        """The control record of a release that begins (replaces the previous release's)."""
        self.table.put_item(Item=_to_dynamo({**item, "pk": f"stack#{stack}", "sk": "progress#control",
                                             "execution_arn": execution_arn, "stack": stack,
                                             "expires_at": int(time.time()) + RELEASE_TTL_SECONDS}))

    def progress(self, stack: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": f"stack#{stack}", "sk": "progress#control"},
                                   ConsistentRead=True).get("Item")
        return plain(item) if item else None

    def update_progress(self, stack: str, execution_arn: str, fields: dict[str, Any],
                        *, clear_command: bool = False) -> None:
        """Set ``fields`` on the release's control record (only this execution's; it must exist)."""
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":v{i}": _to_dynamo(value) for i, value in enumerate(fields.values())}
        expression = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
        if clear_command:
            expression += " REMOVE #command"
            names["#command"] = "command"
        self.table.update_item(
            Key={"pk": f"stack#{stack}", "sk": "progress#control"},
            UpdateExpression=expression,
            ConditionExpression="execution_arn = :me",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={**values, ":me": execution_arn},
        )

    def command_progress(self, stack: str, execution_arn: str, command: dict[str, Any]) -> bool:
        """An operator's command for the running release of ``execution_arn``; False if it is over or another's."""
        try:
            self.table.update_item(
                Key={"pk": f"stack#{stack}", "sk": "progress#control"},
                UpdateExpression="SET #command = :c",
                ConditionExpression="execution_arn = :me AND #status <> :done",
                ExpressionAttributeNames={"#command": "command", "#status": "status"},
                ExpressionAttributeValues={":c": _to_dynamo(command), ":me": execution_arn, ":done": "done"},
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def journal(self, stack: str, execution_name: str, entry: dict[str, Any]) -> None:
        """One step, judgement or command of a release, after the others (sorted by time of writing)."""
        stamp = f"{time.time():017.6f}"
        self.table.put_item(Item=_to_dynamo({**entry, "pk": f"stack#{stack}",
                                             "sk": f"progress#{execution_name}#{stamp}",
                                             "expires_at": int(time.time()) + RELEASE_TTL_SECONDS}))

    def journal_of(self, stack: str, execution_name: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        query: dict[str, Any] = {
            "KeyConditionExpression": "pk = :p AND begins_with(sk, :j)",
            "ExpressionAttributeValues": {":p": f"stack#{stack}", ":j": f"progress#{execution_name}#"},
            "ConsistentRead": True,
        }
        while True:
            page = self.table.query(**query)
            items.extend(plain(i) for i in page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # --- approvals -----------------------------------------------------------------------------
    def put_approval(self, execution_arn: str, item: dict[str, Any], timeout_seconds: int) -> None:
        self.table.put_item(Item=_to_dynamo({**item, "pk": "approval", "sk": execution_arn,
                                             "expires_at": int(time.time()) + timeout_seconds + 3600}))

    def approvals(self) -> list[dict[str, Any]]:
        items = self.table.query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": "approval"})
        return [plain(i) for i in items["Items"]]

    def approval(self, execution_arn: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": "approval", "sk": execution_arn}).get("Item")
        return plain(item) if item else None

    def remove_approval(self, execution_arn: str) -> None:
        self.table.delete_item(Key={"pk": "approval", "sk": execution_arn})

    # --- operator look-ups (the CLI) -----------------------------------------------------------
    def release_of_execution(self, execution_arn: str) -> dict[str, Any] | None:
        """The ledger entry an execution (or a rollback) wrote, if it wrote one."""
        pointer = self.table.get_item(Key={"pk": f"execution#{execution_arn}", "sk": "release"}).get("Item")
        if not pointer:
            return None
        item = self.table.get_item(Key={"pk": f"stack#{str(pointer['stack'])}", "sk": pointer["ledger_sk"]}).get("Item")
        return plain(item) if item else None


@cache
def ledger() -> Ledger:
    from stepdeploy.settings import settings

    return Ledger(settings().table_name)
