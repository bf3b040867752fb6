package v1alpha1

import (
	"strings"
	"testing"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Request ids grow with every request, also after the oldest are dropped,
// so an agent that answered id n knows every id up to n is handled.
func TestAddAgentRequest_IDsGrowPastTheCap(t *testing.T) {
	var st HAServerStatus
	for i := 1; i <= 40; i++ {
		if id := st.AddAgentRequest("n", AgentRelease, 1, metav1.Now()); id != int64(i) {
			t.Fatalf("request %d got id %d", i, id)
		}
	}
	if len(st.AgentRequests) != maxAgentRequests || st.AgentRequests[0].ID != 40-maxAgentRequests+1 {
		t.Fatalf("kept %d requests from id %d", len(st.AgentRequests), st.AgentRequests[0].ID)
	}
}

func TestAnswers_KeepTheNewest(t *testing.T) {
	var r NodeServerStatus
	if r.LastAnswered() != 0 || r.LastAnswer(AgentReserve) != nil {
		t.Fatal("an empty report answers nothing")
	}
	for i := int64(1); i <= 20; i++ {
		a := AgentRelease
		if i == 5 {
			a = AgentReserve
		}
		r.AddAnswer(AgentAnswer{ID: i, Action: a, Result: AnswerDone, Message: strings.Repeat("x", 2000)})
	}
	if len(r.Answers) != maxAgentAnswers || r.LastAnswered() != 20 || len(r.Answers[0].Message) != MaxMessageLength {
		t.Fatalf("answers %d, last %d", len(r.Answers), r.LastAnswered())
	}
	if r.LastAnswer(AgentReserve) != nil || r.LastAnswer(AgentRelease).ID != 20 {
		t.Fatal("LastAnswer reads only the kept answers, newest first")
	}
}

func TestTruncate_NeverSplitsACharacter(t *testing.T) {
	s := strings.Repeat("é", 600) // 2 bytes each
	for _, n := range []int{0, 1, 2, 3, 1023, 1024, 1200, 5000} {
		got := Truncate(s, n)
		if len(got) > n || !utf8.ValidString(got) || (n >= 1 && len(got) < n-1 && len(got) < len(s)) {
			t.Fatalf("Truncate(%d): %d bytes, valid %t", n, len(got), utf8.ValidString(got))
		}
	}
	if TruncateMessage("short") != "short" {
		t.Fatal("a short message is kept whole")
	}
}

func TestReportKey(t *testing.T) {
	s := &HAServer{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db"}}
	st := HANodeStatus{Servers: []NodeServerStatus{{Key: "ns/other"}, {Key: "ns/db", Epoch: 3}}}
	if s.ReportKey() != "ns/db" || st.Report(s.ReportKey()).Epoch != 3 || st.Report("x/y") != nil {
		t.Fatal("reports are found by namespace/name")
	}
}
