// Package nodehelper runs short-lived helper pods on control-plane nodes: the plugin's way onto a
// node when the etcd image has no shell and the user has nothing but a kubeconfig.
//
// A helper pod is an ordinary pod pinned to one node (spec.nodeName, every taint tolerated),
// on the host network (it must work when the CNI does not), without a service-account token,
// made only of images already on that node (pulled only if absent), with the host files the
// caller names mounted read-only (type File) and a deadline after which the kubelet kills it.
// Runner creates it, waits for it, reports why it did not start, and deletes it on every path;
// the pods this process still owns are deleted by DeleteLive when the process must quit at once,
// and a later run deletes helpers left past their deadline (Sweep).
//
// What the helper does on the node is the caller's: snapshot.go builds the snapshot helper of
// "snapshot save" on top of this file and run.go.
package nodehelper

import (
	"fmt"
	"path"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Labels every helper pod carries.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "kubectl-etcd"
	LabelComponent = "app.kubernetes.io/component"
	Component      = "node-helper"
	// LabelMember names the etcd member the helper works for.
	LabelMember = "kubectl-etcd.io/member"
	// AnnotationPurpose says in words what the helper is for (kubectl describe, doctor).
	AnnotationPurpose = "kubectl-etcd.io/purpose"
)

// Selector matches every helper pod of the plugin.
var Selector = LabelManagedBy + "=" + ManagedBy + "," + LabelComponent + "=" + Component

// Downward-API variables every helper container gets, for subPathExpr.
const (
	EnvNamespace = "KUBECTL_ETCD_POD_NAMESPACE"
	EnvName      = "KUBECTL_ETCD_POD_NAME"
	EnvUID       = "KUBECTL_ETCD_POD_UID"
)

// PodLogsDir is where the kubelet keeps pod logs; its /logs/ endpoint serves /var/log.
const PodLogsDir = "/var/log/pods"

// Spec describes one helper pod. The caller gives the containers (image, command, mounts) and
// the volumes; Pod adds what makes it a helper.
type Spec struct {
	Namespace string
	Node      string
	// Purpose is one lowercase word; the pod is named kubectl-etcd-<purpose>-<random>.
	Purpose string
	// Member is the member name the helper works for (a label value; may be empty).
	Member string
	// Describe says in words what the helper does (an annotation).
	Describe string
	// InitContainers run one after the other before Containers (each must exit 0).
	InitContainers []corev1.Container
	Containers     []corev1.Container
	Volumes        []corev1.Volume
	// Deadline is the pod's activeDeadlineSeconds: the kubelet kills it after that long, whatever
	// happened to the process that created it.
	Deadline time.Duration
}

// Pod builds the helper pod of s.
func (s Spec) Pod() *corev1.Pod {
	deadline := int64(s.Deadline / time.Second)
	if deadline < 60 {
		deadline = 60
	}
	labels := map[string]string{LabelManagedBy: ManagedBy, LabelComponent: Component}
	if v := labelValue(s.Member); v != "" {
		labels[LabelMember] = v
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "kubectl-etcd-" + s.Purpose + "-",
			Namespace:    s.Namespace,
			Labels:       labels,
			Annotations:  map[string]string{AnnotationPurpose: s.Describe},
		},
		Spec: corev1.PodSpec{
			NodeName:                      s.Node,
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			HostNetwork:                   true,
			DNSPolicy:                     corev1.DNSDefault,
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
			ActiveDeadlineSeconds:         &deadline,
			TerminationGracePeriodSeconds: ptr.To(int64(1)),
			Volumes:                       s.Volumes,
		},
	}
	for _, c := range s.InitContainers {
		p.Spec.InitContainers = append(p.Spec.InitContainers, helperContainer(c))
	}
	for _, c := range s.Containers {
		p.Spec.Containers = append(p.Spec.Containers, helperContainer(c))
	}
	return p
}

// helperContainer adds to c what every helper container has: images from the node, the
// downward-API variables, root without any capability on a read-only root filesystem.
func helperContainer(c corev1.Container) corev1.Container {
	c.ImagePullPolicy = corev1.PullIfNotPresent
	c.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	c.Env = append(downwardEnv(), c.Env...)
	c.SecurityContext = &corev1.SecurityContext{
		// root, to read the etcd client key (mode 0600, owned by root) and nothing more.
		RunAsUser:                ptr.To(int64(0)),
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	return c
}

func downwardEnv() []corev1.EnvVar {
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	return []corev1.EnvVar{
		field(EnvNamespace, "metadata.namespace"),
		field(EnvName, "metadata.name"),
		field(EnvUID, "metadata.uid"),
	}
}

// labelValue makes s a valid label value (at most 63 characters of [A-Za-z0-9._-], starting and
// ending alphanumeric), or "".
func labelValue(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	v := strings.Trim(string(b), "._-")
	if len(v) > 63 {
		v = strings.TrimRight(v[:63], "._-")
	}
	return v
}

// HostFile is a volume of one file on the node, which must exist (hostPath type File).
func HostFile(name, hostPath string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
		Path: hostPath, Type: ptr.To(corev1.HostPathFile)}}}
}

// ReadOnly mounts volume name at mountPath read-only.
func ReadOnly(name, mountPath string) corev1.VolumeMount {
	return corev1.VolumeMount{Name: name, MountPath: mountPath, ReadOnly: true}
}

// PodLogsVolume is the node's /var/log/pods (type Directory: it must exist).
func PodLogsVolume(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
		Path: PodLogsDir, Type: ptr.To(corev1.HostPathDirectory)}}}
}

// OwnLogDirMount mounts, at mountPath, the subdirectory sub of the pod's own log directory
// (/var/log/pods/<namespace>_<name>_<uid>/<sub>) from a PodLogsVolume. The kubelet serves the
// files there at /logs/pods/..., and removes the whole directory after the pod is deleted.
func OwnLogDirMount(volume, sub, mountPath string) corev1.VolumeMount {
	return corev1.VolumeMount{Name: volume, MountPath: mountPath,
		SubPathExpr: fmt.Sprintf("$(%s)_$(%s)_$(%s)/%s", EnvNamespace, EnvName, EnvUID, sub)}
}

// OwnLogDir is the path of the same directory relative to /var/log, as the kubelet's /logs/
// endpoint names it.
func OwnLogDir(namespace, name, uid, sub string) string {
	return path.Join("pods", namespace+"_"+name+"_"+uid, sub)
}

// ScratchVolume is an emptyDir of at most limit bytes (0: no limit), gone with the pod.
func ScratchVolume(name string, limit int64) corev1.Volume {
	ed := &corev1.EmptyDirVolumeSource{}
	if limit > 0 {
		ed.SizeLimit = resource.NewQuantity(limit, resource.BinarySI)
	}
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: ed}}
}
