"""The embedded local AWS: moto's server in this process, plus what moto lacks.

Used by ``lava-state local up``, ``lava-state demo``, the test suite and the
benchmarks (one implementation for all). Requires the ``local`` extra.

moto loses conditional updates and repeats stream sequence numbers under
concurrent writers, so every request to it is serialised by one lock; SQS
long polls (ReceiveMessage with a wait) stay outside the lock so that a
waiting consumer does not stall every writer.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast, overload

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from lava_state.aws import reset_clients
from lava_state.constants import ENV_ACCOUNT_ID_ENDPOINT_MODE, ENV_ENDPOINT_URL, ENV_REALM
from lava_state.errors import ConfigurationError
from lava_state.naming import kms_alias, stack_name, table_name, validate_realm
from lava_state_local import template
from lava_state_local.lambda_event import LOCAL_ACCOUNT
from lava_state_local.persist import DataDir
from lava_state_local.runner import RunnerSettings, StreamRunner
from lava_state_local.signal import WriteSignal
from lava_state_local.sweeper import TtlMarks, TtlSweeper
from lava_state_local.template import Resolved

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from werkzeug.serving import BaseWSGIServer

    from lava_state.aws import ServiceName
    from lava_state_local.runner import Handler
    from stream_processor.config import ProcessorSettings

LOG = logging.getLogger(__name__)

LOCAL_REGION = "us-east-1"
#: The local realm stack's parameters besides the template's defaults: the
#: realm-wide topic is on, so that prefix subscriptions work locally.
LOCAL_PARAMETERS = {"RealmTopic": "true"}
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _SerialisedApp:
    """WSGI middleware running one request at a time, except SQS long polls."""

    def __init__(self, app: WsgiApp, writes: WriteSignal | None = None) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._writes = writes

    @property
    def lock(self) -> threading.Lock:
        """The lock every request but a long poll holds: hold it to see moto at rest."""
        return self._lock

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if _is_long_poll(environ):
            return self._app(environ, start_response)
        with self._lock:
            # Materialise the body inside the lock: the response may be lazy.
            body = [b"".join(self._app(environ, start_response))]
        if self._writes is not None and _is_dynamodb_write(environ):
            self._writes.notify()  # wakes the stream runners: no idle polling
        return body


def _is_long_poll(environ: dict[str, Any]) -> bool:
    return str(environ.get("HTTP_X_AMZ_TARGET", "")).endswith(".ReceiveMessage")


_DYNAMODB_READS = ("Get", "BatchGet", "Query", "Scan", "Describe", "List")


def _is_dynamodb_write(environ: dict[str, Any]) -> bool:
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    service, _, operation = target.partition(".")
    return service.startswith("DynamoDB_") and not operation.startswith(_DYNAMODB_READS)


class LocalAws:
    """moto's threaded server on 127.0.0.1, as a context manager.

    >>> with LocalAws() as aws:
    ...     aws.provision_realm("dev")
    ...     os.environ.update(aws.env())
    """

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        data_dir: str | os.PathLike[str] | None = None,
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        """``data_dir``: restore from it at start and keep it current while running
        (:mod:`lava_state_local.persist`; one such stack per process, as moto's state is
        the process's). Default: nothing is kept. ``parameters``: the realm stack's
        parameters for every realm it deploys (over :data:`LOCAL_PARAMETERS`).

        Raises:
            InvalidInput: a parameter the template does not have, or a value it refuses.
        """
        self.parameters = dict(parameters or {})
        template.check_parameters(template.load(), self.parameters)
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._session: boto3.session.Session | None = None
        self._writes: WriteSignal | None = None
        self._ttl_marks: TtlMarks | None = None
        self._stacks: dict[str, Resolved] = {}  # realm -> its stack's template, resolved
        self._background: list[StreamRunner | TtlSweeper] = []
        self._app: _SerialisedApp | None = None
        self._data: DataDir | None = None
        if data_dir is not None:
            self._data = DataDir(Path(data_dir), account=LOCAL_ACCOUNT, region=LOCAL_REGION)

    @property
    def data_dir(self) -> Path | None:
        """Where the stack keeps its data; None when it keeps nothing."""
        return None if self._data is None else self._data.path

    def start(self) -> LocalAws:
        """Start the server (port 0 picks a free port), restoring its data directory first.

        Raises:
            OSError: the port cannot be bound (``errno.EADDRINUSE``: it is in use).
            DataDirError: the data directory is in use, or holds a corrupt or newer file.
        """
        if self._data is not None:
            self._data.load()  # all of it read before anything starts or is overwritten
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        class QuietHandler(MotoRequestHandler):
            # Keep-alive: without it every request pays a new TCP connection.
            protocol_version = "HTTP/1.1"

            def log_request(self, *args: Any, **kwargs: Any) -> None:
                """One line per request would drown the demo's output."""

        self._writes, self._ttl_marks = WriteSignal(), TtlMarks()
        app = self._app = _SerialisedApp(
            DomainDispatcherApplication(create_backend_app), self._writes
        )
        # Bound here, not by werkzeug, which prints its own message and exits on a busy port.
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        with socket.create_server((self._host, self._port), family=family) as listener:
            self._server = make_server(
                self._host,
                self._port,
                app,
                threaded=True,
                request_handler=QuietHandler,
                fd=listener.fileno(),
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="lava-state-local-aws", daemon=True
        )
        self._thread.start()
        LOG.info("embedded AWS listening on %s", self.endpoint_url)
        if self._data is not None:
            self._data.restore(provision=self.provision_realm, client=self.client, lock=app.lock)
            self._data.start(lock=app.lock, writes=self._writes)
        return self

    def stop(self) -> None:
        """Stop the runners and sweepers, save the data directory, then stop the server."""
        while self._background:
            self._background.pop().stop()
        if self._data is not None and self._app is not None and self._writes is not None:
            self._data.stop(lock=self._app.lock, writes=self._writes)  # saves what is left
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None
        if self._data is not None:
            self._data.release()

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def restored_realms(self) -> list[str]:
        """The realms restored from the data directory (none without one)."""
        return [] if self._data is None else self._data.realms

    @property
    def endpoint_url(self) -> str:
        """The server's URL."""
        if self._server is None:
            raise RuntimeError("the local AWS is not running: call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3 (and the CLI) at this server."""
        return {
            ENV_ENDPOINT_URL: self.endpoint_url,
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            # Newer botocore sends DynamoDB (Streams) calls to account-specific
            # hosts, which moto does not serve.
            ENV_ACCOUNT_ID_ENDPOINT_MODE: "disabled",
            **LOCAL_CREDENTIALS,
        }

    def session(self) -> boto3.session.Session:
        """A boto3 session with the local credentials and region."""
        if self._session is None:
            self._session = boto3.session.Session(
                aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                region_name=LOCAL_REGION,
            )
        return self._session

    @overload
    def client(self, service: Literal["dynamodb"]) -> DynamoDBClient: ...
    @overload
    def client(self, service: Literal["dynamodbstreams"]) -> DynamoDBStreamsClient: ...
    @overload
    def client(self, service: Literal["kms"]) -> KMSClient: ...
    @overload
    def client(self, service: Literal["sns"]) -> SNSClient: ...
    @overload
    def client(self, service: Literal["sqs"]) -> SQSClient: ...
    @overload
    def client(self, service: Literal["cloudformation"]) -> CloudFormationClient: ...
    def client(self, service: ServiceName | Literal["cloudformation"]) -> Any:
        """A plain client for ``service`` on this server (a new one per call)."""
        # One call for every service: the stubs type each service's overload.
        build = cast("Callable[..., Any]", self.session().client)
        return build(
            service,
            endpoint_url=self.endpoint_url,
            config=Config(account_id_endpoint_mode="disabled"),
        )

    def provision_realm(self, realm: str, parameters: Mapping[str, str] | None = None) -> str:
        """Deploy the realm's stack: deploy/lava-state.yaml with ``parameters`` over
        the server's :attr:`parameters` and :data:`LOCAL_PARAMETERS`, without what
        moto cannot run (see :mod:`lava_state_local.template`). An existing realm
        key alias is kept (``CreateKmsKey=false``, as for a realm lava made).

        Returns the realm key's id. Idempotent: a deployed realm is left as it is.

        Raises:
            InvalidRealm: the realm cannot name the realm's resources.
            InvalidInput: a parameter the template does not have, or a value it refuses.
            ConfigurationError: the stack failed (its resources' reasons given).
        """
        name = stack_name(validate_realm(realm))
        template.check_parameters(template.load(), parameters or {})  # the server's: at init
        parameters = {**self.parameters, **(parameters or {})}
        if realm not in self._stacks:
            self._stacks[realm] = self._deploy(name, realm, parameters)
        key_id = self._key_of(realm)
        if key_id is None:
            raise ConfigurationError(f"realm {realm!r} has no key alias {kms_alias(realm)}")
        return key_id

    def _deploy(self, name: str, realm: str, parameters: Mapping[str, str]) -> Resolved:
        """Create the stack ``name``; its template, resolved. A stack already there
        (deployed by another LocalAws of this process: moto's state is the
        process's) is taken as it is."""
        parameters = {**LOCAL_PARAMETERS, **parameters, "Realm": realm}
        if self._key_of(realm) is not None:
            parameters.setdefault("CreateKmsKey", "false")
        cloudformation = self.client("cloudformation")
        _parse_json_templates_as_json()
        try:
            cloudformation.create_stack(
                StackName=name,
                TemplateBody=template.local_body(),
                Parameters=[
                    {"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()
                ],
                Capabilities=["CAPABILITY_IAM"],
            )
        except cloudformation.exceptions.AlreadyExistsException:
            (deployed,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
            return _resolved(
                {p["ParameterKey"]: p["ParameterValue"] for p in deployed.get("Parameters", [])}
            )
        # moto creates the resources within the call, and answers a resource's
        # refusal in its service's format, which botocore cannot parse. The
        # stack is rolled back, as CloudFormation does.
        except (ClientError, ResponseParserError) as exc:
            cloudformation.delete_stack(StackName=name)
            raise ConfigurationError(
                f"the local stack {name} could not be created: {_refusal(exc)}"
            ) from exc
        self._fix_key_policies()
        stack = _resolved(parameters)
        # moto's CloudFormation leaves TTL off: turned on as the template says.
        table = stack.properties("StateTable")
        self.client("dynamodb").update_time_to_live(
            TableName=table["TableName"],
            TimeToLiveSpecification=table["TimeToLiveSpecification"],
        )
        return stack

    def _fix_key_policies(self) -> None:
        """moto's CloudFormation keeps a key's ``KeyPolicy`` as an object, which its
        DescribeKey cannot read (HTTP 500): stored as JSON text, as CreateKey stores it."""
        from moto.kms.models import kms_backends

        assert self._app is not None, "start() first"
        with self._app.lock:
            for key in kms_backends[LOCAL_ACCOUNT][LOCAL_REGION].keys.values():
                if isinstance(key.policy, dict):
                    key.policy = json.dumps(key.policy)

    def _key_of(self, realm: str) -> str | None:
        kms = self.client("kms")
        try:
            return str(kms.describe_key(KeyId=kms_alias(realm))["KeyMetadata"]["KeyId"])
        except kms.exceptions.NotFoundException:
            return None

    def realm_stack(self, realm: str) -> Resolved:
        """The realm's template, resolved for the parameters its local stack was
        deployed with (the realm is provisioned first when it is not)."""
        self.provision_realm(realm)
        return self._stacks[realm]

    def start_stream_runner(
        self,
        realm: str,
        *,
        handler: Handler | None = None,
        settings: RunnerSettings | None = None,
        streams: DynamoDBStreamsClient | None = None,
        processor: ProcessorSettings | None = None,
    ) -> StreamRunner:
        """Run ``handler`` on the realm's stream as Lambda's event source mapping would.

        The default handler is the stream processor with a client on this
        server, configured by ``processor`` (default: as the realm stack
        configures its function, see :func:`processor_settings`). ``settings``
        default to the stack's event source mapping's. ``streams`` is the
        DynamoDB Streams client the runner reads with (default: a new one on
        this server). Stopped by :meth:`stop`.
        """
        stack = self.realm_stack(realm)
        if handler is None:
            from stream_processor.handler import StreamProcessor

            if processor is None:
                processor = processor_settings(realm, stack=stack)
            handler = StreamProcessor(sns=self.client("sns"), settings=processor).handle
        if settings is None:
            settings = RunnerSettings.from_mapping(stack.properties("ProcessorEventSourceMapping"))
        runner = StreamRunner(
            table_name(realm),
            handler=handler,
            dynamodb=self.client("dynamodb"),
            streams=streams if streams is not None else self.client("dynamodbstreams"),
            sqs=self.client("sqs"),
            settings=settings,
            signal=self._writes,
            marks=self._ttl_marks,
        )
        self._background.append(runner.start())
        return runner

    def start_ttl_sweeper(self, *realms: str, interval: float = 1.0) -> TtlSweeper:
        """Delete expired items of ``realms`` (every TTL table when none) every ``interval`` s.

        Their REMOVE records reach stream runners marked as TTL deletions.
        Stopped by :meth:`stop`.
        """
        sweeper = TtlSweeper(
            dynamodb=self.client("dynamodb"),
            marks=self._ttl_marks or TtlMarks(),
            realms=realms,
            interval=interval,
        )
        self._background.append(sweeper.start())
        return sweeper


def _resolved(parameters: Mapping[str, str]) -> Resolved:
    """The template resolved for ``parameters`` in the local account and region."""
    return Resolved(template.load(), parameters, account=LOCAL_ACCOUNT, region=LOCAL_REGION)


def _parse_json_templates_as_json() -> None:
    """moto parses every template with PyYAML's pure-Python loader (about 23 ms for
    the realm stack's, a third of its CreateStack); a JSON body (which the local
    stack sends) is parsed as JSON instead, which gives the same data."""
    from moto.cloudformation.models import Stack

    original = Stack.parse_template
    if getattr(original, "json_first", False):
        return

    def parse(body: str) -> dict[str, Any]:
        if isinstance(body, str) and body.startswith("{"):
            parsed: dict[str, Any] = json.loads(body)
            return parsed
        return original(body)

    parse.json_first = True  # type: ignore[attr-defined]
    Stack.parse_template = staticmethod(parse)  # type: ignore[method-assign,assignment]


def _refusal(exc: Exception) -> str:
    """The message of an AWS refusal, also when botocore could not parse it."""
    found = re.search(r'"message": "([^"]*)"', str(exc))
    return found.group(1) if found else str(exc)


def processor_settings(
    realm: str, environ: Mapping[str, str] | None = None, *, stack: Resolved | None = None
) -> ProcessorSettings:
    """The local stream processor's settings for ``realm``: the environment the realm
    stack gives its function (``ProcessorFunction`` of deploy/lava-state.yaml, resolved
    for ``stack``, default: :data:`LOCAL_PARAMETERS`), with the ones of its variables
    that ``environ`` (default: the environment) sets over it, as the function's
    environment would be edited on AWS (``LAVA_STATE_MISSING_TOPIC_TTL``,
    ``LAVA_STATE_REALM_TOPIC``, ``LAVA_STATE_FIFO_TOPICS``, ``LAVA_STATE_TRACING``).

    Raises:
        ConfigurationError: a variable has a value that cannot be used.
    """
    from stream_processor.config import ProcessorSettings

    if stack is None:
        stack = _resolved({**LOCAL_PARAMETERS, "Realm": realm})
    variables = stack.properties("ProcessorFunction")["Environment"]["Variables"]
    env = os.environ if environ is None else environ
    given = {name: env[name] for name in variables if name in env and name != ENV_REALM}
    return ProcessorSettings.from_env({**variables, **given})


@contextmanager
def local_aws(
    *realms: str,
    port: int = 0,
    set_env: bool = False,
    stream_runner: bool = False,
    ttl_sweeper: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    parameters: Mapping[str, str] | None = None,
) -> Iterator[LocalAws]:
    """Run a LocalAws with ``realms`` provisioned; ``set_env`` exports its env meanwhile.

    With ``set_env``, the cached default sessions and clients are reset on
    entry and exit, so that default-constructed clients follow the endpoint.

    Each realm is deploy/lava-state.yaml deployed with ``parameters`` (see
    :meth:`LocalAws.provision_realm`). ``stream_runner`` runs the stream processor
    on each realm's stream, configured as the realm stack configures the function
    and its event source mapping (:func:`processor_settings`); ``ttl_sweeper``
    deletes the realms' expired items (as TTL deletions). ``data_dir`` keeps the
    stack's data across restarts (the realms it holds are restored and run too).
    """
    with LocalAws(port=port, data_dir=data_dir, parameters=parameters) as aws:
        if aws.data_dir is not None:
            realms = tuple(dict.fromkeys([*aws.restored_realms, *realms]))
        for realm in realms:
            aws.provision_realm(realm)
            if stream_runner:
                aws.start_stream_runner(realm)
        if ttl_sweeper and realms:
            aws.start_ttl_sweeper(*realms)
        saved = {k: os.environ.get(k) for k in aws.env()}
        if set_env:
            os.environ.update(aws.env())
            reset_clients()
        try:
            yield aws
        finally:
            if set_env:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
                reset_clients()
