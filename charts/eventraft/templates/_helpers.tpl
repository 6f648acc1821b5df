{{/* The chart name, overridable. */}}
{{- define "eventraft.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The operator's objects are named <release>-<chart> unless the release name already contains the chart name. */}}
{{- define "eventraft.fullname" -}}
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

{{/* Labels of every object of the chart. */}}
{{- define "eventraft.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: eventraft
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* Selects the operator's pods. Differs from the nodes' app.kubernetes.io/name=eventraft on purpose: the node PodMonitor must not match the operator. */}}
{{- define "eventraft.operatorSelectorLabels" -}}
app.kubernetes.io/name: {{ include "eventraft.name" . }}-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "eventraft.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "eventraft.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "eventraft.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The namespace whose RaftClusters are reconciled in namespace scope. */}}
{{- define "eventraft.watchNamespace" -}}
{{- default .Release.Namespace .Values.rbac.watchNamespace -}}
{{- end -}}

{{/* The RaftCluster `helm test` checks, or "" when there is none. */}}
{{- define "eventraft.testCluster" -}}
{{- if .Values.tests.cluster -}}
{{- .Values.tests.cluster -}}
{{- else if .Values.exampleCluster.enabled -}}
{{- .Values.exampleCluster.name -}}
{{- end -}}
{{- end -}}

{{/* Pod and container security settings shared by the operator and the test pod: non-root, nothing writable but /tmp. */}}
{{- define "eventraft.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "eventraft.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}
