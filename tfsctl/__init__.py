"""tfsctl: config-as-code for TensorFlow Serving.

The package is laid out along the flow of a change:

    spec/      load + validate the desired state (YAML -> typed, frozen models)
    live/      observe the live state, read-only (model dirs, model.config, container, server)
    plan/      pure diff(desired, live) -> Plan, plus renderers (text, JSON, Markdown)
    apply/     the only code that changes the world: exports, config writes, reloads, rollback
    runtimes/  how a server runs: a Docker container or a local `tfsctl serve` process
    export/    turn a version source (SavedModel, TF1 checkpoint, Keras file) into a version dir
    serve/     a TensorFlow Serving-compatible model server
    cli/       the `tfsctl` command line

TensorFlow is imported lazily, only by export/ and serve/.
"""

__version__ = "0.1.0"
