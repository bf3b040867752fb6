package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	hav1alpha1 "github.com/hamon-ha/hamon/api/v1alpha1"
)

// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create

// eventWait bounds the write of one event: before an OS termination the
// agent must not wait on the API server for long.
const eventWait = 2 * time.Second

// tell writes a Kubernetes Event on the HAServer s, its reason the message
// id (KAMN725-W, KAMN726-E, HAMN181-W, HAMN152-W), so `kubectl get events`
// and `kubectl describe haserver` show what the agent saw and did beside
// the controller's messages (7.4 step 1: check the messages). It is written
// at once, not through a broadcaster: the next thing the agent does may be
// terminating the OS. A failure is logged; the HANode report says the same.
func (a *Agent) tell(ctx context.Context, s *hav1alpha1.HAServer, action, id, note string) {
	if a.Client == nil {
		return // an agent without the API (unit tests of host work)
	}
	kind := corev1.EventTypeNormal
	if !strings.HasSuffix(id, "-I") {
		kind = corev1.EventTypeWarning
	}
	now := a.now()
	ev := &eventsv1.Event{
		// Unique by the time; a long server name is cut (a name has at
		// most 253 characters).
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%s.%x", strings.TrimRight(hav1alpha1.Truncate(s.Name, 200), "-."), now.UnixNano()),
			Namespace: s.Namespace,
		},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: "hamon.io/nodeagent",
		ReportingInstance:   "hamon-nodeagent-" + a.Node,
		Action:              action,
		Reason:              id,
		Type:                kind,
		Note:                hav1alpha1.Truncate(id+" "+note, maxEventNote),
		Regarding: corev1.ObjectReference{
			APIVersion: hav1alpha1.GroupVersion.String(), Kind: "HAServer",
			Namespace: s.Namespace, Name: s.Name, UID: s.UID, ResourceVersion: s.ResourceVersion,
		},
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), eventWait)
	defer cancel()
	if err := a.Client.Create(wctx, ev); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Writing an event on the HAServer", "haserver", s.ReportKey(), "reason", id)
	}
}

// maxEventNote is the API server's limit on an event's note.
const maxEventNote = 1024
