# No replace with downtime in prod: in the prod environment, changes must reach the
# server as hot reloads. A replace or restart (image, ports, flags, batching...) stops
# the server answering; schedule it, and plan it with another environment or by hand.
package main

import rego.v1

deny_replace_with_downtime_in_prod contains msg if {
	input.spec.environment == "prod"
	some server in input.servers
	server.downtime
	server.action != "destroy"
	reasons := concat("; ", server.reasons)
	msg := concat("", ["server ", server.name, ": ", server.action, ", with downtime, in prod (",
		reasons, ")"])
}

# A plan against a snapshot is only as good as the snapshot: say when it is old.
warn_old_snapshot contains msg if {
	input.compared_against.kind == "snapshot"
	input.compared_against.age_seconds > 86400
	msg := sprintf("the live-state snapshot %s is %d hours old: take a new one in the deploy job",
		[input.compared_against.source, floor(input.compared_against.age_seconds / 3600)])
}
