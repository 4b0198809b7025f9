{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "pgpipe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pgpipe.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "pgpipe.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "pgpipe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "pgpipe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pgpipe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "pgpipe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "pgpipe.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the Section__Key secrets: the chart's own or existingSecret. */}}
{{- define "pgpipe.secretName" -}}
{{- default (include "pgpipe.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{/*
A Section__Key map rendered as ConfigMap/Secret data. Keys pass through unchanged: they are the app's
configuration keys, checked against the Options classes by the deploy tests.
*/}}
{{- define "pgpipe.configData" -}}
{{- range $key, $value := . }}
{{ $key }}: {{ include "pgpipe.string" $value | quote }}
{{- end }}
{{- end -}}

{{- define "pgpipe.secretData" -}}
{{- range $key, $value := . }}
{{ $key }}: {{ include "pgpipe.string" $value | b64enc | quote }}
{{- end }}
{{- end -}}

{{/*
A value as the app's configuration binder reads it. YAML numbers reach templates as float64, whose toString
gives 1.8e+06 for 1800000, which no integer option accepts; whole numbers are printed as integers instead.
*/}}
{{- define "pgpipe.string" -}}
{{- if and (kindIs "float64" .) (eq . (float64 (int64 .))) -}}
{{- int64 . -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* Settings every pgpipe container gets directly, derived from other values. */}}
{{- define "pgpipe.observabilityEnv" -}}
- name: Observability__Port
  value: {{ .Values.observability.port | quote }}
- name: Observability__BindAddress
  value: "0.0.0.0"
- name: DOTNET_EnableDiagnostics
  value: "0"
{{- end -}}

{{- define "pgpipe.image" -}}
{{- printf "%s:%s" .repository (.tag | toString) -}}
{{- end -}}

{{/* Restarts pods when their configuration changes (env from ConfigMaps/Secrets is read only at start). */}}
{{- define "pgpipe.configChecksum" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end -}}

{{/* The model key the worker serves: worker.model, plus @revision when the Hub pull pins one. */}}
{{- define "pgpipe.workerModel" -}}
{{- $hub := .Values.worker.models.hub | default dict -}}
{{- if and $hub.enabled $hub.revision -}}
{{- printf "%s@%s" .Values.worker.model $hub.revision -}}
{{- else -}}
{{- .Values.worker.model -}}
{{- end -}}
{{- end }}
