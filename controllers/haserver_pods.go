package controllers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
	"github.com/hamon-ha/hamon/controllers/hotstandby"
)

// RoleFileDir is where the server's container finds the file "role"
// (active or standby), kept current by the kubelet from the pod's label,
// so the program learns of a promotion without a restart.
const RoleFileDir = "/etc/hamon"

// reconcilePods makes the pods follow the machine's state: a pod runs on a
// host exactly while the host is Running and not Stopping, labelled with
// its role. Deleting a pod runs the termCommand first (it is the
// container's preStop hook). Terminated pods are removed once the status
// that recorded their end is persisted (prev), so an exit is never lost.
func (r *HAServerReconciler) reconcilePods(ctx context.Context, s *hav1alpha1.HAServer, st, prev *hotstandby.State,
	views map[string]*hostView) error {
	var errs []error
	for _, h := range st.Hosts {
		v := views[h.Node]
		if v == nil {
			v = &hostView{}
		}
		want := h.Running && h.State != hotstandby.Stopping
		// A running standby copy is promoted (its label, and the role file
		// the server reads, say active) only at activation: while the
		// switchover still stops or fences the old copy, it stays standby.
		role := hav1alpha1.RoleStandbyLabel
		if st.ActsActive(h.Node) {
			role = hav1alpha1.RoleActiveLabel
		}
		switch {
		case want && !v.live && (v.copyMayRun || v.awaitAgent):
			// An earlier copy is still terminating here, or its end waits
			// for the agent's word: its end is an event, and only then may
			// a new copy start.
			var held []string
			for _, p := range v.stale {
				held = append(held, p.Name)
			}
			ctrl.LoggerFrom(ctx).V(1).Info("A new copy waits for an earlier one to end", "node", h.Node,
				"copyMayRun", v.copyMayRun, "awaitAgent", v.awaitAgent, "stalePods", held)
		case want && !v.live:
			p, err := r.createPod(ctx, s, h.Node, v.bootID, role)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			setPodName(s, h.Node, p.Name)
		case want && v.live:
			setPodName(s, h.Node, v.pod.Name)
			if v.pod.Labels[hav1alpha1.LabelRole] != role {
				errs = append(errs, r.setRole(ctx, v.pod, role))
			}
		case !want && v.live:
			errs = append(errs, r.deletePod(ctx, v.pod))
		}
		if p := prev.Host(h.Node); v.pod != nil && !v.live && (p == nil || !p.Running) && v.pod.DeletionTimestamp == nil {
			errs = append(errs, r.deletePod(ctx, v.pod))
		}
		for _, old := range v.stale {
			if old.DeletionTimestamp == nil {
				errs = append(errs, r.deletePod(ctx, old))
			}
		}
		if !want && (v.pod == nil || !v.live) && (prev.Host(h.Node) == nil || !prev.Host(h.Node).Running) {
			setPodName(s, h.Node, "")
		}
		errs = append(errs, r.reconcileTermPods(ctx, s, h, v))
	}
	return errors.Join(errs...)
}

// reconcileTermPods runs the termCommand on h while the machine wants it
// (Monitor mode, after an abnormal termination: Table 4-4 #1), in a pod of
// its own, and removes that pod once its end is recorded. The pod's name
// comes from the stored state, so a retried reconcile finds the pod it
// made rather than making another.
func (r *HAServerReconciler) reconcileTermPods(ctx context.Context, s *hav1alpha1.HAServer, h hotstandby.Host, v *hostView) error {
	var errs []error
	want := ""
	if h.TermCommand && h.State == hotstandby.Stopping {
		want = termPodName(s, h.Node, h.Since)
	}
	found := false
	for _, p := range v.termPods {
		if p.Name == want {
			found = true
			continue
		}
		if p.DeletionTimestamp == nil {
			errs = append(errs, r.deletePod(ctx, p))
		}
	}
	if want != "" && !found {
		p, err := buildTermPod(s, h.Node, v.bootID, want)
		if err == nil {
			err = controllerutil.SetControllerReference(s, p, r.Scheme())
		}
		if err == nil {
			if err = r.Create(ctx, p); apierrors.IsAlreadyExists(err) {
				err = nil
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("creating the termCommand pod of %s on %s: %w", s.Name, h.Node, err))
		}
	}
	return errors.Join(errs...)
}

// termPodName names the pod that runs the termCommand on node after the
// abnormal termination the host began to handle at since.
func termPodName(s *hav1alpha1.HAServer, node string, since time.Time) string {
	name := s.Name + "-" + node
	if len(name) > 200 {
		name = strings.TrimRight(name[:200], ".-")
	}
	return fmt.Sprintf("%s-term-%d", name, since.Unix())
}

// buildTermPod makes the pod that runs spec.termCommand on node after the
// server ended abnormally there (Table 4-4 #1): the server's container as
// the server's pod has it (image, environment, volumes, role file), its
// command replaced by the termCommand, with no probes, no preStop hook, no
// init containers and no other containers. A kubelet runs no preStop hook
// for a container that already exited, so the termCommand cannot run in
// the server's own container then.
func buildTermPod(s *hav1alpha1.HAServer, node, bootID, name string) (*corev1.Pod, error) {
	p, err := buildPod(s, node, bootID, hav1alpha1.RoleTermCommandLabel)
	if err != nil {
		return nil, err
	}
	p.GenerateName, p.Name = "", name
	c := p.Spec.Containers[0]
	c.Command, c.Args = s.Spec.TermCommand, nil
	c.Lifecycle, c.ReadinessProbe, c.LivenessProbe, c.StartupProbe = nil, nil, nil, nil
	p.Spec.Containers = []corev1.Container{c}
	p.Spec.InitContainers = nil
	return p, nil
}

func setPodName(s *hav1alpha1.HAServer, node, name string) {
	for i := range s.Status.Hosts {
		if s.Status.Hosts[i].Node == node {
			s.Status.Hosts[i].Pod = name
		}
	}
}

func (r *HAServerReconciler) createPod(ctx context.Context, s *hav1alpha1.HAServer, node, bootID, role string) (*corev1.Pod, error) {
	p, err := buildPod(s, node, bootID, role)
	if err != nil {
		return nil, err
	}
	if err := controllerutil.SetControllerReference(s, p, r.Scheme()); err != nil {
		return nil, err
	}
	if err := r.Create(ctx, p); err != nil {
		return nil, fmt.Errorf("creating the pod of %s on %s: %w", s.Name, node, err)
	}
	return p, nil
}

func (r *HAServerReconciler) setRole(ctx context.Context, p *corev1.Pod, role string) error {
	patch := client.MergeFrom(p.DeepCopy())
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[hav1alpha1.LabelRole] = role
	if err := r.Patch(ctx, p, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("labelling pod %s %s: %w", p.Name, role, err)
	}
	return nil
}

func (r *HAServerReconciler) deletePod(ctx context.Context, p *corev1.Pod) error {
	if err := r.Delete(ctx, p, client.Preconditions{UID: &p.UID}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting pod %s: %w", p.Name, err)
	}
	return nil
}

// buildPod makes the server's pod for one host from spec.template: pinned
// to the node, never restarted by the kubelet (hamon decides restarts),
// with the role file, the termCommand as preStop hook and the periodic
// patrol as readiness probe, both run inside the server's container.
func buildPod(s *hav1alpha1.HAServer, node, bootID, role string) (*corev1.Pod, error) {
	tmpl := s.Spec.Template.DeepCopy()
	if len(tmpl.Spec.Containers) == 0 {
		return nil, fmt.Errorf("spec.template.spec.containers is empty: the first container is the server")
	}
	name := s.Name + "-" + node
	if len(name) > 200 {
		// A cut name must still end in an alphanumeric before the "-".
		name = strings.TrimRight(name[:200], ".-")
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: name + "-",
			Namespace:    s.Namespace,
			Labels:       map[string]string{},
			Annotations:  map[string]string{hav1alpha1.AnnotationNode: node},
		},
		Spec: tmpl.Spec,
	}
	for k, v := range tmpl.Labels {
		p.Labels[k] = v
	}
	for k, v := range tmpl.Annotations {
		p.Annotations[k] = v
	}
	p.Labels[hav1alpha1.LabelServer] = s.Name
	p.Labels[hav1alpha1.LabelRole] = role
	p.Annotations[hav1alpha1.AnnotationNode] = node
	delete(p.Annotations, hav1alpha1.AnnotationBootID)
	if bootID != "" {
		p.Annotations[hav1alpha1.AnnotationBootID] = bootID
	}
	p.Spec.NodeName = node
	p.Spec.RestartPolicy = corev1.RestartPolicyNever
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{
		Name: "hamon-role",
		VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
			Items: []corev1.DownwardAPIVolumeFile{{
				Path:     "role",
				FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['" + hav1alpha1.LabelRole + "']"},
			}},
		}},
	})
	c := &p.Spec.Containers[0]
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "hamon-role", MountPath: RoleFileDir, ReadOnly: true})
	c.Env = append(c.Env,
		corev1.EnvVar{Name: "HAMON_ALIAS", Value: s.EffectiveAlias()},
		corev1.EnvVar{Name: "HAMON_NODE", Value: node},
		corev1.EnvVar{Name: "HAMON_ROLE_FILE", Value: RoleFileDir + "/role"},
	)
	if len(s.Spec.TermCommand) > 0 {
		if c.Lifecycle == nil {
			c.Lifecycle = &corev1.Lifecycle{}
		}
		c.Lifecycle.PreStop = &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: s.Spec.TermCommand}}
	}
	if pt := s.Spec.Patrol; pt != nil {
		interval, err := time.ParseDuration(pt.Interval)
		if err != nil {
			return nil, fmt.Errorf("spec.patrol.interval: %w", err)
		}
		timeout, err := time.ParseDuration(pt.Timeout)
		if err != nil {
			return nil, fmt.Errorf("spec.patrol.timeout: %w", err)
		}
		c.ReadinessProbe = &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: pt.Command}},
			PeriodSeconds:    seconds(interval),
			TimeoutSeconds:   seconds(timeout),
			FailureThreshold: pt.Retries + 1,
			SuccessThreshold: 1,
		}
	}
	return p, nil
}

// seconds rounds a duration up to whole seconds, at least 1.
func seconds(d time.Duration) int32 {
	s := math.Ceil(d.Seconds())
	return int32(max(1, min(s, math.MaxInt32)))
}
