package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCgroupMemoryMax(t *testing.T) {
	for _, c := range []struct {
		file, content string
		want          int64
	}{
		{"memory.max", "536870912\n", 536870912},
		{"memory.max", "max\n", 0},
		{"memory/memory.limit_in_bytes", "268435456\n", 268435456},
		{"memory/memory.limit_in_bytes", "9223372036854771712\n", 0},
		{"memory.max", "garbage", 0},
	} {
		root := t.TempDir()
		path := filepath.Join(root, c.file)
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := cgroupMemoryMax(root); got != c.want {
			t.Errorf("%s %q: %d, want %d", c.file, c.content, got, c.want)
		}
	}
	if got := cgroupMemoryMax(t.TempDir()); got != 0 {
		t.Errorf("no cgroup files: %d", got)
	}
}
