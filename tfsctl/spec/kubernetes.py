"""What only Kubernetes needs to know about a server: the `kubernetes:` block.

Everything else (flags, batching, models; image, resources and replicas from
the server's runtime options) comes from the server itself, so `tfsctl render
--what kubernetes` and the other runtimes read one description. Values are
checked here with Kubernetes' own rules (DNS names, quantities), so a bad
manifest is a located spec error, not a rejection by the cluster after the merge.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from tfsctl.spec.base import Strict

#: RFC 1035 label, what Kubernetes requires of Service names (and namespaces, in 1123 form).
DNS_LABEL_PATTERN = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
#: RFC 1123 subdomain: names of ConfigMaps, Secrets, claims and service accounts.
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
#: A Kubernetes resource quantity (500m, 2, 1.5, 512Mi, 2G).
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
#: Object storage that TensorFlow Serving reads by itself (its file system has GCS built in).
GCS_URI_PATTERN = r"^gs://[a-z0-9][a-z0-9._-]{1,221}[a-z0-9](/[^\s]*)?$"

DnsLabel = Annotated[str, Field(pattern=DNS_LABEL_PATTERN)]
DnsSubdomain = Annotated[str, Field(pattern=DNS_SUBDOMAIN_PATTERN)]
Quantity = Annotated[str, Field(pattern=QUANTITY_PATTERN)]


class ModelVolume(Strict):
    """A PersistentVolumeClaim holding the model root, mounted read-only at /models."""

    claim: DnsSubdomain = Field(description="Name of the PersistentVolumeClaim (ReadOnlyMany or "
                                            "ReadWriteMany when replicas run on several nodes).")


class ResourceAmounts(Strict):
    cpu: Quantity | None = Field(default=None, description="e.g. 500m, 2")
    memory: Quantity | None = Field(default=None, description="e.g. 512Mi, 4Gi")


class KubernetesResources(Strict):
    """Requests and limits as Kubernetes quantities; replaces what `resources:` gives."""

    requests: ResourceAmounts = Field(default_factory=ResourceAmounts)
    limits: ResourceAmounts = Field(default_factory=ResourceAmounts)


class Kubernetes(Strict):
    """What `tfsctl render --what kubernetes` needs beyond the server's own settings.

    The pods find the model root either on a PersistentVolumeClaim (`model_volume`)
    or in Google Cloud Storage (`model_uri`, no volume: TF Serving reads gs://
    itself); base paths keep their place relative to the model root.
    """

    name: DnsLabel | None = Field(default=None, description="Name of the Deployment, Service "
                                  "and ConfigMap (<name>-config); default: the server's name, "
                                  "which must then be a DNS label (lowercase, '-', no '_').")
    namespace: DnsLabel | None = Field(default=None, description="metadata.namespace; default: "
                                       "none, so `kubectl -n` or kustomize decides.")
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    model_volume: ModelVolume | None = Field(default=None, description="The claim with the "
                                             "model root; give this or model_uri.")
    model_uri: str | None = Field(default=None, pattern=GCS_URI_PATTERN, description="The "
                                  "model root in object storage, e.g. gs://bucket/models; give "
                                  "this or model_volume.")
    service_account: DnsSubdomain | None = Field(default=None, description="serviceAccountName, "
                                                 "e.g. one bound to a cloud identity that may "
                                                 "read model_uri.")
    secret: DnsSubdomain | None = Field(default=None, description="Secret holding the "
                                        "secret_env values, keyed by the names secret_env "
                                        "gives (the value side).")
    resources: KubernetesResources | None = Field(default=None, description="Requests and "
                                                  "limits; default: the server's `resources:` "
                                                  "as both.")
    run_as_user: int = Field(default=65532, ge=1, le=2**31 - 1, description="Non-root uid (and "
                             "gid) of the server; the model files must be readable by it.")
    config_poll_seconds: int = Field(default=30, ge=1, le=3600, description="How often TF "
                                     "Serving re-reads model.config from the ConfigMap, so "
                                     "version and label changes apply without a restart.")
    startup_timeout_seconds: int = Field(default=600, ge=10, le=86400, description="How long "
                                         "a new pod may take until every model is AVAILABLE.")
    drain_seconds: int = Field(default=10, ge=0, le=600, description="preStop delay: how long "
                               "a stopping pod keeps serving while endpoints drop it.")
    grace_seconds: int = Field(default=30, ge=1, le=3600, description="Pod termination grace "
                               "period, counted from the start of the drain; TF Serving does "
                               "not stop on SIGTERM, so it is killed when this runs out.")

    @field_validator("grace_seconds")
    @classmethod
    def _longer_than_drain(cls, value: int, info: ValidationInfo) -> int:
        drain = info.data.get("drain_seconds")
        if drain is not None and value <= drain:
            raise ValueError(f"must be longer than drain_seconds ({drain}): the drain counts "
                             "against the grace period")
        return value

    @model_validator(mode="after")
    def _one_model_root(self) -> Kubernetes:
        if (self.model_volume is None) == (self.model_uri is None):
            raise ValueError("give the pods' model root: `model_volume: {claim: NAME}` or "
                             "`model_uri: gs://BUCKET/PATH`, exactly one of them")
        return self
