# No destroy in prod: a plan for the prod environment (`tfsctl plan --env prod`) must not
# remove a server, stop serving a model, or delete a version directory.
#
# Input: the JSON plan (docs/plan-json.md). Rules follow conftest's convention, so
# `conftest test --policy examples/policies plan.json` gives the same answer. Messages
# with computed strings (concat, ...) are built with concat, not sprintf: rego-cpp, the
# engine tfsctl embeds, quotes such strings inside sprintf.
package main

import rego.v1

in_prod if input.spec.environment == "prod"

deny_destroy_in_prod contains msg if {
	in_prod
	some server in input.servers
	server.action == "destroy"
	msg := sprintf("server %s would be destroyed in prod", [server.name])
}

deny_destroy_in_prod contains msg if {
	in_prod
	some server in input.servers
	some model in server.models
	model.change == "delete"
	msg := sprintf("server %s would stop serving model %s in prod", [server.name, model.name])
}

deny_destroy_in_prod contains msg if {
	in_prod
	some server in input.servers
	some version in server.versions
	version.change == "delete"
	msg := sprintf("server %s would delete version %d of %s in prod (%s)",
		[server.name, version.version, version.model, version.reason])
}
