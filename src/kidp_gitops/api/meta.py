"""Pieces every API group shares: durations, references, conditions, artifacts, and the
base classes of the typed objects.

Two base models set the tone. `SpecModel` is what users write in Git: types are strict
(`prune: "yes"` is an error, not True) and unknown fields are rejected, so a typo fails
offline instead of being pruned silently by the API server. `StatusModel` is what
controllers write: lax and tolerant of fields it does not know, so a status written by
Flux itself, or by a newer kidp, still reads.

JSON names are Flux's camelCase, derived from the snake_case attributes by `camel`;
either spelling is accepted on input. A field declared with `defaulted(...)` carries its
default into the generated CRD as well, so the API server fills it in exactly as the
model does.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from kidp_gitops.api.resources import ResourceInfo

# JSON names that plain camelCase gets wrong (Go's acronyms).
_JSON_NAMES = {
    "skip_crds": "skipCRDs",
    "disable_open_api_validation": "disableOpenAPIValidation",
}


def camel(name: str) -> str:
    """The JSON name of an attribute: `secret_ref` -> `secretRef`, `from_` -> `from`."""
    if name in _JSON_NAMES:
        return _JSON_NAMES[name]
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


CRD_DEFAULT_KEY = "x-kidp-crd-default"
"""Marks a JSON-schema default that the CRD generator keeps; all others are dropped."""


def defaulted(value: Any, **field_args: Any) -> Any:
    """A field default that the generated CRD declares too."""
    if isinstance(value, BaseModel):
        plain: Any = value.model_dump(mode="json", by_alias=True, exclude_none=True)
    elif isinstance(value, str):
        plain = str(value)
    else:
        plain = value
    return Field(default=value, json_schema_extra={CRD_DEFAULT_KEY: plain}, **field_args)


class SpecModel(BaseModel):
    """Base of what users write: strict types, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=camel,
        populate_by_name=True,
        extra="forbid",
        strict=True,
        use_attribute_docstrings=True,
    )


class StatusModel(BaseModel):
    """Base of what controllers write: lax types, unknown fields kept."""

    model_config = ConfigDict(
        alias_generator=camel,
        populate_by_name=True,
        extra="allow",
        use_attribute_docstrings=True,
    )


FreeForm = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]
"""A JSON object of any shape (Helm values, inline strategic-merge patches)."""

JSONValue = Annotated[Any, WithJsonSchema({"x-kubernetes-preserve-unknown-fields": True})]
"""Any JSON value (the `value` of a JSON 6902 operation)."""

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
SUBDOMAIN = rf"^{_LABEL}(\.{_LABEL})*$"
"""An RFC 1123 subdomain: the names of most Kubernetes objects."""
NamespaceName = Annotated[str, Field(min_length=1, max_length=63, pattern=rf"^{_LABEL}$")]
"""A Namespace's name (an RFC 1123 label): what the API server would accept."""
AccountName = Annotated[str, Field(min_length=1, max_length=253, pattern=SUBDOMAIN)]
"""A ServiceAccount's name (an RFC 1123 subdomain). Checked because it is impersonated
as `system:serviceaccount:<namespace>:<name>`: `../../kube-system/default` must never
reach an Impersonate-User header."""
ObjectName = Annotated[str, Field(min_length=1, max_length=253, pattern=SUBDOMAIN)]
"""The name of an object a reference names (an RFC 1123 subdomain, as the API server
requires of Secrets, ConfigMaps and Flux's objects). Checked at admission because the
engine reads what it names: `../../kube-system/secrets/x` is no name (the client refuses
such a path as well)."""


# --- durations --------------------------------------------------------------------------

_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class Duration(str):
    """A Go duration as Flux writes it: "500ms", "10s", "5m", "1h30m".

    It is the string the user wrote (so it round-trips unchanged); `.seconds` is its
    length. Compare durations by `.seconds`, never as strings.
    """

    pattern: ClassVar[str] = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
    units: ClassVar[str] = "ms, s, m or h"

    def __new__(cls, value: str) -> Self:
        if not isinstance(value, str) or re.fullmatch(cls.pattern, value) is None:
            raise ValueError(cls._problem(value))
        return super().__new__(cls, value)

    @classmethod
    def _problem(cls, value: object) -> str:
        return (
            f"{value!r} is not a duration: write numbers with units {cls.units}, "
            "e.g. 30s, 5m or 1h30m"
        )

    @property
    def seconds(self) -> float:
        return sum(float(amount) * _UNIT_SECONDS[unit] for amount, unit in _PART.findall(self))

    @classmethod
    def from_seconds(cls, seconds: float) -> Self:
        """The shortest duration string for a length: 90 -> "1m30s", 0.5 -> "500ms"."""
        millis = round(seconds * 1000)
        if millis < 0:
            raise ValueError(f"a duration cannot be negative: {seconds}")
        hours, millis = divmod(millis, 3_600_000)
        minutes, millis = divmod(millis, 60_000)
        secs, millis = divmod(millis, 1000)
        parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
        if millis:
            parts.append(f"{millis}ms")
        return cls("".join(parts) or "0s")

    @classmethod
    def _validate(cls, value: str) -> Self:
        if re.fullmatch(cls.pattern, value) is None:
            raise PydanticCustomError("duration", cls._problem(value))
        return cls(value)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls._validate,
            core_schema.str_schema(strict=True),
            serialization=core_schema.to_string_ser_schema(),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "pattern": cls.pattern}


class TimeoutDuration(Duration):
    """A duration whose units stop at minutes ("90s", "5m"), as Flux's network timeouts."""

    pattern: ClassVar[str] = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"
    units: ClassVar[str] = "ms, s or m"


# --- references -------------------------------------------------------------------------


class LocalObjectReference(SpecModel):
    """An object in the same namespace, by name."""

    name: ObjectName


class NamespacedObjectReference(SpecModel):
    """An object by name, in the given namespace or else the referrer's."""

    name: ObjectName
    namespace: NamespaceName | None = None


class NamespacedObjectKindReference(SpecModel):
    """A typed object by kind and name, in the given namespace or else the referrer's."""

    api_version: str | None = None
    """API version of the referent; the server's preferred version when omitted."""
    kind: str
    name: ObjectName
    namespace: NamespaceName | None = None


class CrossNamespaceSourceReference(SpecModel):
    """A source object, in the given namespace or else the referrer's.

    Each group narrows `kind` to the sources it can consume.
    """

    api_version: str | None = None
    kind: str
    name: ObjectName
    namespace: NamespaceName | None = None


class SecretKeyReference(SpecModel):
    """A Secret in the same namespace and, optionally, one key of it."""

    name: ObjectName
    key: str | None = None


class KubeConfigReference(SpecModel):
    """The kubeconfig of a remote cluster to act on: a Secret holding it, or a ConfigMap
    with the settings of a cloud provider's workload identity."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.configMapRef) != has(self.secretRef)",
                    "message": "exactly one of configMapRef or secretRef must be set",
                }
            ]
        }
    )

    secret_ref: SecretKeyReference | None = None
    """The Secret and key of the kubeconfig; the key defaults to 'value'."""
    config_map_ref: LocalObjectReference | None = None
    """A ConfigMap with the provider, cluster and address to authenticate with."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.secret_ref is None) == (self.config_map_ref is None):
            raise ValueError("exactly one of configMapRef or secretRef must be set")
        return self


class NamespaceSelector(SpecModel):
    """Namespaces selected by their labels."""

    match_labels: dict[str, str] = Field(default_factory=dict)


class AccessFrom(SpecModel):
    """Namespaces allowed to reference an object across namespaces."""

    namespace_selectors: list[NamespaceSelector]


class LabelSelectorRequirement(SpecModel):
    key: str
    operator: str
    values: list[str] = Field(default_factory=list)


class LabelSelector(SpecModel):
    """A Kubernetes label selector."""

    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)


# --- status pieces ----------------------------------------------------------------------

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"


class Condition(StatusModel):
    """One observation of an object's state (Kubernetes' metav1.Condition)."""

    type: str
    status: Literal["True", "False", "Unknown"]
    observed_generation: int | None = None
    last_transition_time: datetime
    reason: str
    message: str


class Artifact(StatusModel):
    """The output of a source reconciliation: a tarball served over HTTP."""

    path: str
    """Path of the file relative to the root of the artifact storage."""
    url: str
    """HTTP address the artifact can be downloaded from."""
    revision: str = ""
    """Revision in the origin system, e.g. 'main@sha1:<commit>' or a chart version."""
    digest: str | None = None
    """Digest of the file, '<algorithm>:<checksum>'."""
    last_update_time: datetime
    size: int | None = None
    """Size of the file in bytes."""
    metadata: dict[str, str] | None = None
    """Upstream information such as OCI annotations."""


class ObjectStatus(StatusModel):
    """The status fields every kind shares."""

    observed_generation: int | None = None
    """The last generation the controller reconciled."""
    conditions: list[Condition] = Field(default_factory=list)
    last_handled_reconcile_at: str | None = None
    """The last value of the reconcile.fluxcd.io/requestedAt annotation acted on."""

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)

    @property
    def ready(self) -> bool:
        found = self.condition(READY)
        return found is not None and found.status == "True"


class ObjectMeta(StatusModel):
    """Object metadata: the fields kidp reads, and any others kept as they are."""

    name: str
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    generation: int | None = None
    uid: str | None = None
    resource_version: str | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    finalizers: list[str] = Field(default_factory=list)


# --- objects ----------------------------------------------------------------------------


SpecT = TypeVar("SpecT")
StatusT = TypeVar("StatusT", bound=ObjectStatus)


class KubeObject(BaseModel, Generic[SpecT, StatusT]):
    """A whole object: apiVersion, kind, metadata, spec and status.

    Concrete kinds set `RESOURCE`; apiVersion and kind default to its storage version and
    kind, and any other served version is accepted as written.
    """

    # No attribute docstrings: these fields have none, and pydantic looks for them by
    # walking the stack to the class statement's source, which a parametrized class
    # (`KubeObject[Spec, Status]`) does not have: each looked through every frame of the
    # import under way, most of the cost of importing the API types.
    model_config = ConfigDict(
        alias_generator=camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=False,
    )

    RESOURCE: ClassVar[ResourceInfo]

    api_version: str = ""
    kind: str = ""
    metadata: ObjectMeta
    spec: SpecT
    status: StatusT | None = None

    @model_validator(mode="before")
    @classmethod
    def _fill_type(cls, data: Any) -> Any:
        info: ResourceInfo | None = getattr(cls, "RESOURCE", None)
        if info is None or not isinstance(data, dict):
            return data
        filled = dict(data)
        if "apiVersion" not in filled and "api_version" not in filled:
            filled["apiVersion"] = info.api_version()
        filled.setdefault("kind", info.kind)
        return filled

    @model_validator(mode="after")
    def _check_type(self) -> Self:
        info: ResourceInfo | None = getattr(type(self), "RESOURCE", None)
        if info is None:
            return self
        if self.kind != info.kind:
            raise ValueError(f"kind is {self.kind!r}, expected {info.kind!r}")
        if not info.serves(self.api_version):
            served = ", ".join(info.api_version(v) for v in info.versions)
            raise ValueError(
                f"apiVersion {self.api_version!r} is not served for {info.kind} (served: {served})"
            )
        return self

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or ""

    @property
    def generation(self) -> int:
        """metadata.generation; 0 before the API server has set one."""
        return self.metadata.generation or 0

    def to_dict(self) -> dict[str, Any]:
        """The object as JSON-ready data: the fields that were set, by their JSON names."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)


def describe(error: ValidationError) -> list[str]:
    """One readable line per problem, each starting with the field's JSON path.

    Here, not in `kinds`, so that reporting an invalid object (runtime/lifecycle) does not
    import the models of every kind: a process builds the models of the kinds it hosts."""
    return [problem_line(e["loc"], e["type"], e["msg"]) for e in error.errors()]


def problem_line(loc: tuple[int | str, ...], type_: str, message: str) -> str:
    """A problem at `loc` of pydantic's error `type_`, in words that name the field."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    if type_ == "extra_forbidden":
        message = "unknown field"
    elif type_ == "missing":
        message = "required field is missing"
    elif type_ == "value_error":
        message = message.removeprefix("Value error, ")
    return f"{path or '<object>'}: {message}"
