package fencing

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRecorderRecordsThenEndsTheHost(t *testing.T) {
	file := filepath.Join(t.TempDir(), "os-terminated")
	ended := false
	r := Recorder{File: file, Then: func() { ended = true }}
	if err := r.Terminate("KAMN726-E every path of mpatha failed"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(data), "KAMN726-E") || !ended {
		t.Fatalf("%q %v ended=%t", data, err, ended)
	}
	if err := (Recorder{File: filepath.Join(t.TempDir(), "no", "such", "dir")}).Terminate("x"); err == nil {
		t.Fatal("a failed record is not an error")
	}
}

func TestParseAction(t *testing.T) {
	for _, s := range []string{"reboot", "poweroff", "none"} {
		if _, err := ParseAction(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseAction("halt"); err == nil || !strings.Contains(err.Error(), "want reboot, poweroff or none") {
		t.Fatalf("%v", err)
	}
}

func TestLinuxNoneAndUnknownDoNotReboot(t *testing.T) {
	var logged string
	if err := (Linux{Action: ActionNone, Log: func(m string) { logged = m }}).Terminate("test"); err != nil || logged == "" {
		t.Fatalf("%v %q", err, logged)
	}
	if err := (Linux{Action: "halt"}).Terminate("test"); err == nil {
		t.Fatal("unknown action accepted")
	}
}
