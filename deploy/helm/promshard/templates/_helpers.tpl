{{/*
The template language here stays within Go text/template and the few Helm/Sprig functions
that tests/deploy.rs renders without Helm (tests/deploy/gotmpl.rs lists them).
*/}}

{{/* The chart's name, a DNS label (63 characters). */}}
{{- define "promshard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's objects' name: the release name alone when it already holds the chart's. */}}
{{- define "promshard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The headless Service whose EndpointSlices list the ring's members. */}}
{{- define "promshard.peersService" -}}
{{- printf "%s-peers" (include "promshard.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "promshard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "promshard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "promshard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "promshard.labels" -}}
helm.sh/chart: {{ include "promshard.chart" . }}
{{ include "promshard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "promshard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "promshard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "promshard.configMapName" -}}
{{- default (include "promshard.fullname" .) .Values.existingConfigMap }}
{{- end }}
