"""Marshmallow schemas for the desired-state file format (see docs/desired-state.md).

Keys follow Docker Compose where Compose has one (image, command, environment, ports, volumes,
depends_on, healthcheck). Each schema turns its YAML into the plain values `ServiceSpec` takes;
cross-service rules (duplicates, depends_on) live in the loader, which sees all files.
"""
from __future__ import annotations

from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from app.desired_state.fields import (
    Build,
    Command,
    DependsOn,
    Duration,
    Environment,
    ExtraHosts,
    Gpus,
    Hostname,
    Labels,
    Memory,
    Networks,
    PortMapping,
    StringList,
    Ulimits,
    VolumeMount,
)
from app.desired_state.spec import CATEGORIES

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
NAME_RULE = "lowercase letters, digits, '.', '_' or '-', starting with a letter or digit, " \
            "at most 63 characters"

#: Compose keys Steward refuses on purpose, with the reason (an unknown key only lists the
#: allowed ones; these deserve an explanation).
REFUSED_KEYS = {
    "ipc": "ipc is not supported: sharing the host's or another container's IPC "
           "namespace breaks the isolation Steward's host-access policy keeps",
    "userns_mode": "userns_mode is not supported: leaving the user namespace is not a "
                   "setting a desired-state file may change",
    "container_name": "container_name is not needed: Steward names containers "
                      "<instance>-<service> and finds them by label",
    "restart": "restart is Steward's job: remove it and tune restart_policy: instead",
    "profiles": "profiles are not supported: use enabled: false for a service that should "
                "not run",
}


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class HttpCheckSchema(StrictSchema):
    path = fields.Str(load_default="/", validate=validate.Regexp(
        r"^/[\x21-\x7e]*$", error="must start with / and hold no spaces or control "
                                  "characters (percent-encode them)"))
    port = fields.Int(validate=validate.Range(1, 65535))


class TcpCheckSchema(StrictSchema):
    port = fields.Int(validate=validate.Range(1, 65535))


class HealthCheckSchema(StrictSchema):
    http = fields.Nested(HttpCheckSchema)
    tcp = fields.Nested(TcpCheckSchema)
    command = Command()
    interval = Duration(load_default=10.0)
    timeout = Duration(load_default=5.0)
    start_period = Duration(load_default=0.0)
    retries = fields.Int(load_default=3, validate=validate.Range(1, 100))

    @validates_schema
    def exactly_one_kind(self, data: dict, **kwargs: Any) -> None:
        kinds = [k for k in ("http", "tcp", "command") if k in data]
        if len(kinds) != 1:
            raise ValidationError(
                "give exactly one of http: {path, port}, tcp: {port} or command: [...]"
                + (f" (found {', '.join(kinds)})" if kinds else ""), "_schema")


class RestartPolicySchema(StrictSchema):
    max_failures = fields.Int(validate=validate.Range(1, 1000))
    backoff_base = Duration()
    backoff_max = Duration()
    flap_transitions = fields.Int(validate=validate.Range(2, 1000))
    flap_window = Duration()
    mode = fields.Str(validate=validate.OneOf(
        ("always", "once"), error="must be always (heal every exit) or once (run to "
                                  "completion; heal only a failed run)"))


class UpdateSchema(StrictSchema):
    """`update:`, Swarm's names: how a change to the running service is rolled out."""

    order = fields.Str(validate=validate.OneOf(
        ("start-first", "stop-first"), error="must be start-first or stop-first"))
    monitor = Duration()
    deadline = Duration()
    failure_action = fields.Str(validate=validate.OneOf(
        ("rollback", "pause"), error="must be rollback or pause"))

    @validates_schema
    def monitor_within_deadline(self, data: dict, **kwargs: Any) -> None:
        if "monitor" in data and "deadline" in data and data["monitor"] >= data["deadline"]:
            raise ValidationError("must be longer than monitor", "deadline")


class PlacementSchema(StrictSchema):
    """`placement:` for the Swarm engine, in Swarm's terms."""

    constraints = fields.List(fields.Str(validate=validate.Regexp(
        r"^[A-Za-z0-9_.-]+ *(==|!=) *\S+$", error="must be like node.role==manager")))
    preferences = fields.List(fields.Str(validate=validate.Regexp(
        r"^(spread=)?[A-Za-z0-9_.-]+$", error="must be a spread descriptor such as "
                                             "node.labels.zone")))
    max_replicas_per_node = fields.Int(validate=validate.Range(1, 10000))


class ResourcesSchema(StrictSchema):
    memory = Memory()
    cpus = fields.Float(validate=validate.Range(min=0.01, max=1024))


class DeviceSchema(StrictSchema):
    """One entry of Compose's `deploy.resources.reservations.devices`."""

    driver = fields.Str(load_default="")
    count = fields.Raw()
    device_ids = fields.List(fields.Str())
    capabilities = fields.List(fields.Str(), validate=validate.Length(min=1), load_default=["gpu"])
    options = fields.Dict(keys=fields.Str(), values=fields.Str(), load_default=dict)

    @validates_schema
    def count_or_ids(self, data: dict, **kwargs: Any) -> None:
        count = data.get("count")
        if count is not None and count != "all" and not (
                isinstance(count, int) and not isinstance(count, bool) and count > 0):
            raise ValidationError("must be all or a positive number", "count")
        if count is not None and data.get("device_ids"):
            raise ValidationError("give count or device_ids, not both", "_schema")


class ReservationsSchema(StrictSchema):
    devices = fields.List(fields.Nested(DeviceSchema), load_default=list)
    memory = Memory()
    cpus = fields.Float()


class DeployResourcesSchema(StrictSchema):
    limits = fields.Nested(lambda: ResourcesSchema(), load_default=dict)
    reservations = fields.Nested(ReservationsSchema, load_default=dict)


class DeploySchema(StrictSchema):
    """Compose's `deploy:`, as far as one host has a use for it: resource limits and GPUs."""

    resources = fields.Nested(DeployResourcesSchema, load_default=dict)


class LoggingSchema(StrictSchema):
    driver = fields.Str(load_default="json-file", validate=validate.OneOf(
        ("json-file", "local", "none"), error="must be json-file, local or none (a driver "
                                              "that ships logs elsewhere is not supported)"))
    options = fields.Dict(keys=fields.Str(validate=validate.OneOf(
        ("max-size", "max-file", "compress"), error="options are max-size, max-file and "
                                                    "compress")), values=fields.Raw(),
        load_default=dict)


class ServiceFileSchema(StrictSchema):
    """One service's block of a desired-state file (the API's `ServiceSchema` is how the
    contract shows a service)."""

    display_name = fields.Str(validate=validate.Length(1, 200))
    category = fields.Str(required=True, validate=validate.OneOf(
        CATEGORIES, error="must be one of: " + ", ".join(CATEGORIES)))
    image = fields.Str(validate=validate.Length(1, 500))
    build = Build()
    command = Command()
    entrypoint = Command()
    environment = Environment(load_default=list)
    env_file = StringList()
    ports = fields.List(PortMapping(), load_default=list)
    port = fields.Int(validate=validate.Range(1, 65535))
    volumes = fields.List(VolumeMount(), load_default=list)
    networks = Networks()
    depends_on = DependsOn(load_default=list)
    restart_with = fields.List(fields.Str(), load_default=list)
    healthcheck = fields.Nested(HealthCheckSchema)
    init = fields.Bool(load_default=False, truthy={True}, falsy={False})
    stop_grace_period = Duration(load_default=10.0)
    enabled = fields.Bool(load_default=True, truthy={True}, falsy={False})
    restart_policy = fields.Nested(RestartPolicySchema, load_default=dict)
    update = fields.Nested(UpdateSchema, load_default=dict)
    auto_update = fields.Bool(truthy={True}, falsy={False})
    replicas = fields.Int(validate=validate.Range(0, 10000))
    placement = fields.Nested(PlacementSchema)
    port_mode = fields.Str(validate=validate.OneOf(
        ("ingress", "host"), error="must be ingress (the routing mesh) or host"))
    resources = fields.Nested(ResourcesSchema, load_default=dict)
    deploy = fields.Nested(DeploySchema, load_default=dict)
    gpus = Gpus()
    user = fields.Str(validate=validate.Regexp(r"^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$",
                                               error="must be a user or uid, with :group"))
    working_dir = fields.Str(validate=validate.Regexp(r"^/", error="must be an absolute path"))
    hostname = Hostname()
    stop_signal = fields.Str(validate=validate.Regexp(
        r"^(SIG[A-Z0-9+-]+|[0-9]{1,2})$", error="must be a signal such as SIGTERM or SIGINT"))
    labels = Labels()
    shm_size = Memory()
    ulimits = Ulimits()
    tmpfs = StringList()
    extra_hosts = ExtraHosts()
    read_only = fields.Bool(truthy={True}, falsy={False})
    cap_drop = fields.List(fields.Str(validate=validate.Regexp(
        r"^(CAP_)?[A-Z_]+$", error="must be a capability such as ALL or NET_RAW")))
    security_opt = fields.List(fields.Str(validate=validate.OneOf(
        ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"),
        error="only no-new-privileges is supported: seccomp, apparmor and label options "
              "loosen the host's confinement")))
    logging = fields.Nested(LoggingSchema)
    # Checked against the host-access policy by the loader (app/desired_state/host_access.py)
    privileged = fields.Bool(truthy={True}, falsy={False})
    cap_add = fields.List(fields.Str(validate=validate.Regexp(
        r"^(CAP_)?[A-Z_]+$", error="must be a capability such as NET_ADMIN")))
    devices = fields.List(fields.Str(validate=validate.Regexp(
        r"^/dev/[^:]+(:/dev/[^:]+)?(:[rwm]{1,3})?$",
        error="must be /dev/HOST[:/dev/CONTAINER[:rwm]]")))
    network_mode = fields.Str(validate=validate.OneOf(
        ("host", "none"), error="must be host or none; to share a network use networks:"))
    pid = fields.Str(validate=validate.OneOf(("host",), error="must be host"))

    @validates_schema
    def image_or_build(self, data: dict, **kwargs: Any) -> None:
        if "image" not in data and "build" not in data:
            raise ValidationError("give image: (a tag to run or to give a build) or build:",
                                  "image")

    @validates_schema
    def one_resources_form(self, data: dict, **kwargs: Any) -> None:
        limits = (data.get("deploy") or {}).get("resources", {}).get("limits")
        if limits and data.get("resources"):
            raise ValidationError("give resources: or deploy.resources.limits, not both",
                                  "resources")
        devices = (data.get("deploy") or {}).get("resources", {}).get("reservations", {})
        if devices.get("devices") and "gpus" in data:
            raise ValidationError("give gpus: or deploy.resources.reservations.devices, "
                                  "not both", "gpus")
        if "network_mode" in data and "networks" in data:
            raise ValidationError("network_mode and networks exclude each other",
                                  "network_mode")
        if "tmpfs" in data and not all(t.startswith("/") for t in data["tmpfs"]):
            raise ValidationError("each entry must be an absolute path in the container",
                                  "tmpfs")


class FileSchema(StrictSchema):
    """One file: `services:` (name → service) and optional fleet settings; `x-*` keys are free."""

    services = fields.Dict(keys=fields.Str(), values=fields.Raw(), load_default=dict)
    networks = fields.Dict(keys=fields.Str(validate=validate.Regexp(
        r"^[a-z0-9][a-z0-9_.-]{0,62}$", error="a network name is lowercase letters, digits, "
                                              "'.', '_' or '-'")),
        values=fields.Nested(lambda: NetworkSchema(), allow_none=True), load_default=dict)
    prune = fields.Bool(truthy={True}, falsy={False})


class NetworkSchema(StrictSchema):
    """A top-level network, Compose-style. Steward creates it as `<instance>_<name>` unless
    it is `external` (then it must exist, under `name` or its own name)."""

    external = fields.Bool(load_default=False, truthy={True}, falsy={False})
    name = fields.Str(validate=validate.Length(1, 200))
    internal = fields.Bool(load_default=False, truthy={True}, falsy={False})
    driver = fields.Str(load_default="bridge", validate=validate.OneOf(
        ("bridge",), error="only bridge networks on one host (overlay comes with the swarm "
                           "engine)"))
