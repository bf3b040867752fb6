{{/*
hamon.name: the chart's name, or nameOverride.
*/}}
{{- define "hamon.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{/*
hamon.fullname: the prefix of every object's name. "hamon" for a release
named hamon (the names config/ uses: hamon-manager, hamon-nodeagent, ...).
Truncated to 40 characters so that the longest suffix still fits 63.
*/}}
{{- define "hamon.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := include "hamon.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
hamon.labels: the labels of every object.
*/}}
{{- define "hamon.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "hamon.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hamon
{{- end }}

{{/*
hamon.selectorLabels: the labels that select the release's pods; a
component label (controller, nodeagent) is added beside them.
*/}}
{{- define "hamon.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hamon.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
hamon.image: the controller's image (/usr/local/bin/manager).
hamon.agentImage: the node agent's (/usr/local/bin/nodeagent): agent.imageRepository,
or the controller's repository when that is empty (one image holding both).
*/}}
{{- define "hamon.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
hamon.leaseNamespace: where the node agents keep their Leases: the release
namespace unless leaseNamespace is set. The controller (--agent-namespace)
and the agents (--namespace) always get the same value.
*/}}
{{- define "hamon.agentImage" -}}
{{- printf "%s:%s" (.Values.agent.imageRepository | default .Values.image.repository) (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
hamon.watchdog and hamon.peer: agent.watchdog and agent.peer with their
defaults, as JSON (fromJson), so that a release upgraded with
--reuse-values from a chart without them still renders.
*/}}
{{- define "hamon.watchdog" -}}
{{- $w := default (dict) .Values.agent.watchdog -}}
{{- dict "enabled" (ternary $w.enabled true (hasKey $w "enabled")) "device" (default "/dev/watchdog" $w.device) "timeout" (default "10s" $w.timeout) | toJson -}}
{{- end }}

{{- define "hamon.peer" -}}
{{- $p := default (dict) .Values.agent.peer -}}
{{- dict "port" (int (default 9440 $p.port)) "timeout" (default "1s" $p.timeout) "tlsSecret" (default "" $p.tlsSecret) | toJson -}}
{{- end }}

{{- define "hamon.peerTLSSecret" -}}
{{- (include "hamon.peer" . | fromJson).tlsSecret | default (printf "%s-agent-peer-tls" (include "hamon.fullname" .)) }}
{{- end }}

{{- define "hamon.leaseNamespace" -}}
{{- .Values.leaseNamespace | default .Release.Namespace }}
{{- end }}

{{/*
hamon.durationMs: a Go duration ("10s", "1m30s", "500ms") in milliseconds.
The schema has already checked the form; this only adds up the parts.
*/}}
{{- define "hamon.durationMs" -}}
{{- $units := dict "ms" 1.0 "s" 1000.0 "m" 60000.0 "h" 3600000.0 }}
{{- $total := 0.0 }}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(ms|h|m|s)" (toString .) -1 }}
{{- $n := regexFind "^[0-9]+(\\.[0-9]+)?" . }}
{{- $total = addf $total (mulf (float64 $n) (get $units (trimPrefix $n .))) }}
{{- end }}
{{- $total }}
{{- end }}

{{/*
hamon.validateValues: the rules between values that values.schema.json
cannot state (JSON schema cannot compare two fields). They are the agent's
own rules (nodeagent/lease Timing.Validate), checked at install time rather
than by a crash-looping DaemonSet.
*/}}
{{- define "hamon.validateValues" -}}
{{- $a := .Values.agent }}
{{- $lease := include "hamon.durationMs" $a.leaseDuration | float64 }}
{{- $renew := include "hamon.durationMs" $a.renewInterval | float64 }}
{{- $fence := include "hamon.durationMs" $a.selfFenceDeadline | float64 }}
{{- if or (le $lease 0.0) (le $renew 0.0) (le $fence 0.0) }}
{{- fail (printf "agent.leaseDuration (%s), agent.renewInterval (%s) and agent.selfFenceDeadline (%s) must all be longer than zero" $a.leaseDuration $a.renewInterval $a.selfFenceDeadline) }}
{{- end }}
{{- if ne (mod (int64 $lease) 1000) 0 }}
{{- fail (printf "agent.leaseDuration (%s) must be a whole number of seconds: a Lease records its duration in seconds. Use for example 10s" $a.leaseDuration) }}
{{- end }}
{{- if ge $fence $lease }}
{{- fail (printf "agent.selfFenceDeadline (%s) must be shorter than agent.leaseDuration (%s): an agent that cannot renew its Lease must stop its unprotected servers before the controller counts its host as lost and starts them elsewhere. Lower agent.selfFenceDeadline or raise agent.leaseDuration (defaults 7s and 10s)" $a.selfFenceDeadline $a.leaseDuration) }}
{{- end }}
{{- if gt (mulf $renew 2.0) $fence }}
{{- fail (printf "agent.renewInterval (%s) must be at most half of agent.selfFenceDeadline (%s), so that one late renewal does not make the agent stop its servers. Lower agent.renewInterval or raise agent.selfFenceDeadline (defaults 2s and 7s)" $a.renewInterval $a.selfFenceDeadline) }}
{{- end }}
{{- $watchdog := include "hamon.watchdog" . | fromJson }}
{{- $wd := include "hamon.durationMs" $watchdog.timeout | float64 }}
{{- if and $watchdog.enabled (lt $wd (mulf $renew 3.0)) }}
{{- fail (printf "agent.watchdog.timeout (%s) must be at least three agent.renewInterval (%s): a peer's confirmation of an outage is fed on for two renew intervals after the last one, and the watchdog must still fire within the two timeouts the controller waits. Raise agent.watchdog.timeout or lower agent.renewInterval (defaults 10s and 2s)" $watchdog.timeout $a.renewInterval) }}
{{- end }}
{{- with .Values.controller.timing.selfFenceWait }}
{{- if lt (include "hamon.durationMs" . | float64) (mulf $wd 2.0) }}
{{- fail (printf "controller.timing.selfFenceWait (%s) must be at least twice agent.watchdog.timeout (%s) (SBD's msgwait rule): a server without shared disks must not start elsewhere before the watchdog of a host that could not stop it has reset that host. Raise it, or leave it empty (the default is twice the watchdog timeout)" . $watchdog.timeout) }}
{{- end }}
{{- end }}
{{- $ns := include "hamon.leaseNamespace" . }}
{{- if and .Values.admissionPolicies.enabled (ne $ns .Release.Namespace) }}
{{- fail (printf "leaseNamespace (%s) must be the release namespace (%s) while admissionPolicies.enabled is true: the node agent policy (config/policy) lets an agent write its Lease only in its own ServiceAccount's namespace. Leave leaseNamespace empty, or set admissionPolicies.enabled=false" $ns .Release.Namespace) }}
{{- end }}
{{- if and (gt (int .Values.controller.replicas) 1) (not .Values.controller.leaderElect) }}
{{- fail (printf "controller.replicas is %d but controller.leaderElect is false: several controllers would act on the same servers at once. Set controller.leaderElect=true or controller.replicas=1" (int .Values.controller.replicas)) }}
{{- end }}
{{- end }}
