# Every labelled model has smoke requests: a label (stable, canary...) is what clients
# call, so apply must check the version behind it answers before it counts as done.
package main

import rego.v1

deny_labelled_model_without_smoke contains msg if {
	some server in input.servers
	some entry in server.desired_model_config
	count(entry.labels) > 0
	count(object.get(server.smoke, entry.name, [])) == 0
	labels := concat(", ", sort(object.keys(entry.labels)))
	msg := concat("", [
		"model ", entry.name, " on server ", server.name, " has labels (", labels,
		") but no smoke requests: add `smoke:` to it",
	])
}
