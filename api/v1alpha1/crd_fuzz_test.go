package v1alpha1_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A property test of the HAServer CRD's validation, run by the real API
// server: random valid HAServers (every field, at and inside its bounds,
// any Unicode in commands) must be accepted and stored as written; each
// single-field corruption of one (a value outside an enum, a number out of
// range, a string one character too long, Unicode, NUL or a separator in a
// name or device, a list longer than its maxItems, a duplicate host,
// priority or disk, a wrong type, a broken cross-field rule) must be
// refused with a message that names the corrupted field.
//
// Seeded and replayable: the seed is printed (go test -v) and named in
// every failure; HAMON_CRD_FUZZ_SEED replays one, HAMON_CRD_FUZZ_CASES runs
// more servers than the default (each with corruptionsPerServer corruptions).

const (
	fuzzSeedEnv          = "HAMON_CRD_FUZZ_SEED"
	fuzzCasesEnv         = "HAMON_CRD_FUZZ_CASES"
	defaultFuzzServers   = 60
	corruptionsPerServer = 8
)

func TestRandomServersAndCorruptions(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(fuzzSeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", fuzzSeedEnv, s, err)
		}
	}
	servers := defaultFuzzServers
	if testing.Short() {
		servers /= 4
	}
	if s := os.Getenv(fuzzCasesEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", fuzzCasesEnv, s)
		}
		servers = n
	}
	t.Logf("seed %d (replay with %s=%d), %d servers, %d corruptions each", seed, fuzzSeedEnv, seed, servers, corruptionsPerServer)
	g := &gen{r: rand.New(rand.NewPCG(seed, 0x68616d6f6e))}
	ctx := t.Context()
	covered := map[string]int{}
	for i := range servers {
		name := fmt.Sprintf("fz-%d-%s", i, g.label(1, 20))
		valid := g.server(name)
		sent := valid.DeepCopy()
		if err := env.Client.Create(ctx, valid); err != nil {
			t.Errorf("seed %d server %d: a valid HAServer was refused: %v\n%s", seed, i, err, manifest(sent))
			continue
		}
		checkStoredAsWritten(t, seed, i, sent)
		for k := 0; k < corruptionsPerServer; {
			c := corruptions[g.r.IntN(len(corruptions))]
			bad := sent.DeepCopy()
			bad.SetName(name + "-x")
			want, ok := c.apply(g, bad.Object, spec(bad))
			if !ok {
				continue
			}
			k++
			covered[c.name]++
			sentBad := manifest(bad)
			err := env.Client.Create(ctx, bad, client.DryRunAll)
			switch {
			case err == nil:
				t.Errorf("seed %d server %d: %s: accepted, want it refused naming %s\n%s", seed, i, c.name, want, sentBad)
			case !strings.Contains(err.Error(), want):
				t.Errorf("seed %d server %d: %s: the error does not name %s: %v", seed, i, c.name, want, truncate(err.Error(), 2000))
			}
		}
	}
	var missed []string
	for _, c := range corruptions {
		if covered[c.name] == 0 {
			missed = append(missed, c.name)
		}
	}
	t.Logf("corruptions tried: %v; not drawn this run: %v", covered, missed)
}

// checkStoredAsWritten: what the API server stored is what was sent, for
// the fields it does not default (no pruning, no normalisation of Unicode).
func checkStoredAsWritten(t *testing.T, seed uint64, i int, sent *unstructured.Unstructured) {
	t.Helper()
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(sent.GroupVersionKind())
	if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(sent), got); err != nil {
		t.Fatal(err)
	}
	for _, f := range [][]string{{"hosts"}, {"alias"}, {"termCommand"}, {"patrolCommand"}, {"patrol", "command"}, {"request"}, {"switchRetry"}} {
		path := append([]string{"spec"}, f...)
		w, _, _ := unstructured.NestedFieldNoCopy(sent.Object, path...)
		h, _, _ := unstructured.NestedFieldNoCopy(got.Object, path...)
		if !jsonEqual(w, h) {
			t.Errorf("seed %d server %d: %s stored as %s, sent %s", seed, i, strings.Join(path, "."),
				truncate(mustJSON(h), 500), truncate(mustJSON(w), 500))
		}
	}
}

func jsonEqual(a, b any) bool { return mustJSON(a) == mustJSON(b) }

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func manifest(u *unstructured.Unstructured) string { return truncate(mustJSON(u.Object), 4000) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("… (%d bytes)", len(s))
}

func spec(u *unstructured.Unstructured) map[string]any { return u.Object["spec"].(map[string]any) }

// gen draws the parts of a valid HAServer.
type gen struct{ r *rand.Rand }

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

func (g *gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

// between is a number in [lo, hi], with the bounds themselves drawn often.
func (g *gen) between(lo, hi int) int {
	switch g.r.IntN(8) {
	case 0:
		return lo
	case 1:
		return hi
	}
	return lo + g.r.IntN(hi-lo+1)
}

// length is a length in [lo, hi], mostly short, sometimes the bounds.
func (g *gen) length(lo, hi int) int {
	if g.chance(0.7) {
		return lo + g.r.IntN(min(hi, lo+12)-lo+1)
	}
	return g.between(lo, hi)
}

func (g *gen) from(alphabet string, n int) string {
	rs := []rune(alphabet)
	var b strings.Builder
	for range n {
		b.WriteRune(rs[g.r.IntN(len(rs))])
	}
	return b.String()
}

const (
	lowerDigits = "abcdefghijklmnopqrstuvwxyz0123456789"
	alnum       = "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + lowerDigits
	hexDigits   = "0123456789abcdefABCDEF"
)

// word is n characters: the first and last from edge, the others from mid.
func (g *gen) word(n int, edge, mid string) string {
	if n == 1 {
		return g.from(edge, 1)
	}
	return g.from(edge, 1) + g.from(mid, n-2) + g.from(edge, 1)
}

// label is a DNS-1123 label of lo..hi characters.
func (g *gen) label(lo, hi int) string { return g.word(g.length(lo, hi), lowerDigits, lowerDigits+"-") }

// nodeName is a DNS-1123 subdomain of at most 253 characters.
func (g *gen) nodeName() string {
	n := g.length(1, 253)
	var labels []string
	for n > 0 {
		l := min(n, 1+g.r.IntN(63))
		if rest := n - l; rest == 1 {
			l++ // no label would fit beside the dot
		}
		labels = append(labels, g.word(l, lowerDigits, lowerDigits+"-"))
		n -= l + 1
	}
	return strings.Join(labels, ".")
}

func (g *gen) alias() string { return g.word(g.length(1, 63), alnum, alnum+"._-") }

// Runes an argument may hold: any Unicode but NUL.
var argRunes = []rune("abcXYZ019 -_./=:'\"$`\\\t\n\u00e9\u00df\u4e2d\u6587\U0001F600\u0301\u202e\u200b\ufeff\u0007\u001b\uffff")

func (g *gen) arg(maxRunes int) string {
	n := g.length(1, maxRunes)
	var b strings.Builder
	for range n {
		if g.chance(0.6) {
			b.WriteByte(alnum[g.r.IntN(len(alnum))])
		} else {
			b.WriteRune(argRunes[g.r.IntN(len(argRunes))])
		}
	}
	return b.String()
}

// argv is a command of 1..64 arguments of up to 4096 characters, its size
// kept well under what one request may carry.
func (g *gen) argv() []any {
	n := g.length(1, 64)
	out := make([]any, n)
	for i := range out {
		maxRunes := 64
		if g.chance(0.05) {
			maxRunes = 4096
		}
		out[i] = g.arg(maxRunes)
	}
	return out
}

func (g *gen) device() string {
	if g.chance(0.5) {
		return "/dev/mapper/" + g.from(alnum, 1) + g.from(alnum+"._:-", g.length(1, 128)-1)
	}
	return g.from(hexDigits, g.between(9, 65))
}

// duration writes ms milliseconds in one of the forms the pattern allows.
func (g *gen) duration(ms int) string {
	switch {
	case ms%1000 != 0 || g.chance(0.2):
		return fmt.Sprintf("%dms", ms)
	case ms%60000 == 0 && g.chance(0.5):
		return fmt.Sprintf("%dm", ms/60000)
	case ms > 60000 && g.chance(0.5):
		return fmt.Sprintf("%dm%ds", ms/60000, ms%60000/1000)
	}
	return fmt.Sprintf("%ds", ms/1000)
}

// server is a random valid HAServer named name.
func (g *gen) server(name string) *unstructured.Unstructured {
	s := map[string]any{}
	if g.chance(0.7) {
		s["mode"] = g.pick("Server", "Monitor")
	}
	if g.chance(0.5) {
		s["alias"] = g.alias()
	}
	nHosts := g.between(2, 8)
	seen := map[string]bool{}
	prios := g.r.Perm(64)
	withPrio := g.chance(0.5)
	var hosts []any
	for len(hosts) < nHosts {
		n := g.nodeName()
		if seen[n] {
			continue
		}
		seen[n] = true
		h := map[string]any{"node": n}
		if withPrio {
			h["standbyPriority"] = int64(prios[len(hosts)] + 1)
		}
		hosts = append(hosts, h)
	}
	s["hosts"] = hosts
	if g.chance(0.7) {
		s["switchType"] = g.pick("Switch", "Restart", "Manual")
		if s["switchType"] == "Restart" && g.chance(0.5) {
			s["restartWaitLimit"] = g.pick("30s", "10m", "1h30m", "500ms")
		}
	}
	if g.chance(0.7) {
		s["switchError"] = g.pick("Stop", "Retry")
		if s["switchError"] == "Retry" && g.chance(0.7) {
			s["switchRetry"] = int64(g.between(0, 100))
		}
	}
	if g.chance(0.5) {
		s["termCommand"] = g.argv()
	}
	if g.chance(0.3) {
		s["patrolCommand"] = g.argv()
	}
	if g.chance(0.5) {
		p := map[string]any{"command": g.argv()}
		if g.chance(0.7) {
			interval := g.between(2, 3_600_000)
			p["interval"] = g.duration(interval)
			p["timeout"] = g.duration(g.between(1, interval-1))
		}
		if g.chance(0.5) {
			p["retries"] = int64(g.between(0, 100))
		}
		s["patrol"] = p
	}
	if g.chance(0.6) {
		var disks []any
		seenDisk := map[string]bool{}
		for n := g.length(1, 16); len(disks) < n; {
			d := g.device()
			if seenDisk[d] {
				continue
			}
			seenDisk[d] = true
			disk := map[string]any{"device": d}
			if g.chance(0.5) {
				disk["reservation"] = g.pick("WriteExclusiveRegistrantsOnly", "ExclusiveAccessRegistrantsOnly")
			}
			disks = append(disks, disk)
		}
		s["sharedDisks"] = disks
	}
	if g.chance(0.4) {
		grp := map[string]any{"name": g.label(1, 63)}
		if g.chance(0.5) {
			grp["exchange"] = g.chance(0.5)
		}
		s["group"] = grp
	}
	containers := []any{}
	for i := range g.between(1, 3) {
		containers = append(containers, map[string]any{"name": fmt.Sprintf("c%d", i), "image": "registry.example/server:" + g.label(1, 20)})
	}
	s["template"] = map[string]any{"spec": map[string]any{"containers": containers}}
	if g.chance(0.5) {
		action := g.pick("Swap", "StopStandby", "End", "Begin", "Act", "ClearReservation")
		req := map[string]any{"id": g.alias(), "action": action}
		if g.chance(0.5) {
			req["node"] = hosts[g.r.IntN(len(hosts))].(map[string]any)["node"]
		}
		if action == "Swap" && g.chance(0.5) {
			req["force"] = g.chance(0.5)
		}
		s["request"] = req
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "ha.hamon.io/v1alpha1",
		"kind":       "HAServer",
		"metadata":   map[string]any{"name": name, "namespace": "default"},
		"spec":       s,
	}}
}

// Corruptions.

// A corruption changes one field of a valid HAServer so that it is invalid,
// and returns what the error must name (the field's path); ok is false when
// it does not apply to this server.
type corruption struct {
	name  string
	apply func(g *gen, obj, spec map[string]any) (want string, ok bool)
}

// Values that are close to an enum's members but not in it.
func (g *gen) notInEnum(members ...string) string {
	m := members[g.r.IntN(len(members))]
	return g.pick("", strings.ToLower(m), strings.ToUpper(m), m+" ", " "+m, m+"\x00", m[:len(m)-1], m+"s",
		strings.Replace(m, m[:1], "\u0405", 1), "Active", "true", "*")
}

// hostile is a character that no name, id or device may hold.
func (g *gen) hostile() string {
	return g.pick("\x00", "/", " ", "\n", "\t", ":", "@", "%", "\u00f6", "\u00df", "\u0130", "\u200b", "\u202e",
		"\uff41", "\u0430", "\U0001F600", "\ufeff", "\u0085")
}

// inject puts s at a random place in w.
func (g *gen) inject(w, s string) string {
	rs := []rune(w)
	i := g.r.IntN(len(rs) + 1)
	return string(rs[:i]) + s + string(rs[i:])
}

func list(spec map[string]any, key string) []any { l, _ := spec[key].([]any); return l }

// ensureDisks gives the server a shared disk when it has none.
func ensureDisks(g *gen, spec map[string]any) []any {
	if len(list(spec, "sharedDisks")) == 0 {
		spec["sharedDisks"] = []any{map[string]any{"device": g.device()}}
	}
	return list(spec, "sharedDisks")
}

func ensureRequest(g *gen, spec map[string]any) map[string]any {
	if _, ok := spec["request"].(map[string]any); !ok {
		spec["request"] = map[string]any{"id": g.alias(), "action": "Swap"}
	}
	return spec["request"].(map[string]any)
}

func ensurePatrol(g *gen, spec map[string]any) map[string]any {
	if _, ok := spec["patrol"].(map[string]any); !ok {
		spec["patrol"] = map[string]any{"command": g.argv()}
	}
	return spec["patrol"].(map[string]any)
}

func ensureGroup(g *gen, spec map[string]any) map[string]any {
	if _, ok := spec["group"].(map[string]any); !ok {
		spec["group"] = map[string]any{"name": g.label(1, 63)}
	}
	return spec["group"].(map[string]any)
}

// commandList picks one of the three argv lists, giving the server one.
func commandList(g *gen, spec map[string]any) (path string, args []any, set func([]any)) {
	switch g.r.IntN(3) {
	case 0:
		if list(spec, "termCommand") == nil {
			spec["termCommand"] = g.argv()
		}
		return "spec.termCommand", list(spec, "termCommand"), func(l []any) { spec["termCommand"] = l }
	case 1:
		if list(spec, "patrolCommand") == nil {
			spec["patrolCommand"] = g.argv()
		}
		return "spec.patrolCommand", list(spec, "patrolCommand"), func(l []any) { spec["patrolCommand"] = l }
	}
	p := ensurePatrol(g, spec)
	l, _ := p["command"].([]any)
	return "spec.patrol.command", l, func(l []any) { p["command"] = l }
}

func host(spec map[string]any, i int) map[string]any { return list(spec, "hosts")[i].(map[string]any) }

var corruptions = []corruption{
	{"mode not in its enum", func(g *gen, _, s map[string]any) (string, bool) {
		s["mode"] = g.notInEnum("Server", "Monitor")
		return "spec.mode", true
	}},
	{"switchType not in its enum", func(g *gen, _, s map[string]any) (string, bool) {
		s["switchType"] = g.notInEnum("Switch", "Restart", "Manual")
		delete(s, "restartWaitLimit")
		return "spec.switchType", true
	}},
	{"restartWaitLimit without switchType Restart", func(g *gen, _, s map[string]any) (string, bool) {
		s["switchType"] = g.pick("Switch", "Manual")
		s["restartWaitLimit"] = "10m"
		return "spec.restartWaitLimit", true
	}},
	{"restartWaitLimit not a duration", func(g *gen, _, s map[string]any) (string, bool) {
		s["switchType"] = "Restart"
		s["restartWaitLimit"] = g.pick("10", "ten minutes", "-5m", "1d", "5m ")
		return "spec.restartWaitLimit", true
	}},
	{"switchError not in its enum", func(g *gen, _, s map[string]any) (string, bool) {
		s["switchError"] = g.notInEnum("Stop", "Retry")
		delete(s, "switchRetry")
		return "spec.switchError", true
	}},
	{"reservation not in its enum", func(g *gen, _, s map[string]any) (string, bool) {
		disks := ensureDisks(g, s)
		i := g.r.IntN(len(disks))
		disks[i].(map[string]any)["reservation"] = g.notInEnum("WriteExclusiveRegistrantsOnly", "ExclusiveAccessRegistrantsOnly")
		return fmt.Sprintf("spec.sharedDisks[%d].reservation", i), true
	}},
	{"request action not in its enum", func(g *gen, _, s map[string]any) (string, bool) {
		req := ensureRequest(g, s)
		req["action"] = g.notInEnum("Swap", "StopStandby", "End", "Begin", "Act", "ClearReservation")
		delete(req, "force")
		return "spec.request.action", true
	}},
	{"standbyPriority out of range", func(g *gen, _, s map[string]any) (string, bool) {
		hosts := list(s, "hosts")
		for j := range hosts {
			host(s, j)["standbyPriority"] = int64(j + 1)
		}
		i := g.r.IntN(len(hosts))
		host(s, i)["standbyPriority"] = []int64{0, -1, 65, 1000, 1<<31 - 1, 1 << 40}[g.r.IntN(6)]
		return fmt.Sprintf("spec.hosts[%d].standbyPriority", i), true
	}},
	{"switchRetry out of range", func(g *gen, _, s map[string]any) (string, bool) {
		s["switchError"] = "Retry"
		s["switchRetry"] = []int64{-1, 101, 1 << 31, -(1 << 40)}[g.r.IntN(4)]
		return "spec.switchRetry", true
	}},
	{"patrol retries out of range", func(g *gen, _, s map[string]any) (string, bool) {
		ensurePatrol(g, s)["retries"] = []int64{-1, 101, 1 << 33}[g.r.IntN(3)]
		return "spec.patrol.retries", true
	}},
	{"alias too long", func(g *gen, _, s map[string]any) (string, bool) {
		s["alias"] = g.word(g.between(64, 300), alnum, alnum+"._-")
		return "spec.alias", true
	}},
	{"command argument too long", func(g *gen, _, s map[string]any) (string, bool) {
		path, args, _ := commandList(g, s)
		i := g.r.IntN(len(args))
		args[i] = strings.Repeat(g.pick("x", "\u00e9", "\u4e2d", "\U0001F600"), g.between(4097, 5000))
		return fmt.Sprintf("%s[%d]", path, i), true
	}},
	{"node name too long", func(g *gen, _, s map[string]any) (string, bool) {
		i := g.r.IntN(len(list(s, "hosts")))
		host(s, i)["node"] = strings.Repeat("a", g.between(254, 400))
		return fmt.Sprintf("spec.hosts[%d].node", i), true
	}},
	{"device too long", func(g *gen, _, s map[string]any) (string, bool) {
		disks := ensureDisks(g, s)
		i := g.r.IntN(len(disks))
		d := "/dev/mapper/" + g.from(alnum, g.between(129, 300))
		if g.chance(0.3) {
			d = g.from(hexDigits, g.between(66, 200))
		}
		disks[i].(map[string]any)["device"] = d
		return fmt.Sprintf("spec.sharedDisks[%d].device", i), true
	}},
	{"request id too long", func(g *gen, _, s map[string]any) (string, bool) {
		ensureRequest(g, s)["id"] = g.word(g.between(64, 300), alnum, alnum+"._-")
		return "spec.request.id", true
	}},
	{"request node too long", func(g *gen, _, s map[string]any) (string, bool) {
		ensureRequest(g, s)["node"] = strings.Repeat("n", g.between(254, 400))
		return "spec.request.node", true
	}},
	{"group name too long", func(g *gen, _, s map[string]any) (string, bool) {
		ensureGroup(g, s)["name"] = g.word(g.between(64, 300), lowerDigits, lowerDigits+"-")
		return "spec.group.name", true
	}},
	{"metadata.name too long for the pods' label", func(g *gen, obj, _ map[string]any) (string, bool) {
		obj["metadata"].(map[string]any)["name"] = g.word(g.between(64, 253), lowerDigits, lowerDigits+"-")
		return "metadata.name", true
	}},
	{"hostile character in a node name", func(g *gen, _, s map[string]any) (string, bool) {
		i := g.r.IntN(len(list(s, "hosts")))
		h := host(s, i)
		h["node"] = g.inject(h["node"].(string), g.pick(g.hostile(), "A", "_", "..", ".-", "-."))
		return fmt.Sprintf("spec.hosts[%d].node", i), true
	}},
	{"hostile character in the alias", func(g *gen, _, s map[string]any) (string, bool) {
		s["alias"] = g.inject(g.alias(), g.hostile())
		return "spec.alias", true
	}},
	{"hostile character in the group name", func(g *gen, _, s map[string]any) (string, bool) {
		grp := ensureGroup(g, s)
		grp["name"] = g.inject(grp["name"].(string), g.pick(g.hostile(), "A", "_", "."))
		return "spec.group.name", true
	}},
	{"hostile character in the request id", func(g *gen, _, s map[string]any) (string, bool) {
		req := ensureRequest(g, s)
		req["id"] = g.inject(req["id"].(string), g.hostile())
		return "spec.request.id", true
	}},
	{"hostile character in the request node", func(g *gen, _, s map[string]any) (string, bool) {
		req := ensureRequest(g, s)
		node := host(s, 0)["node"].(string)
		req["node"] = g.inject(node, g.pick(g.hostile(), "A", "_"))
		return "spec.request.node", true
	}},
	{"hostile character in a device", func(g *gen, _, s map[string]any) (string, bool) {
		disks := ensureDisks(g, s)
		i := g.r.IntN(len(disks))
		d := disks[i].(map[string]any)
		dev := d["device"].(string)
		if strings.HasPrefix(dev, "/dev/mapper/") {
			bad := g.hostile()
			if bad == ":" { // a map name may hold ':'
				bad = "/../"
			}
			d["device"] = "/dev/mapper/" + g.inject(strings.TrimPrefix(dev, "/dev/mapper/"), bad)
		} else {
			d["device"] = g.inject(dev, g.pick(g.hostile(), "g", "x", "\uff10"))
		}
		return fmt.Sprintf("spec.sharedDisks[%d].device", i), true
	}},
	{"NUL in a command argument", func(g *gen, _, s map[string]any) (string, bool) {
		path, args, _ := commandList(g, s)
		i := g.r.IntN(len(args))
		args[i] = g.inject(args[i].(string), "\x00")
		return fmt.Sprintf("%s[%d]", path, i), true
	}},
	{"empty command argument", func(g *gen, _, s map[string]any) (string, bool) {
		path, args, _ := commandList(g, s)
		i := g.r.IntN(len(args))
		args[i] = ""
		return fmt.Sprintf("%s[%d]", path, i), true
	}},
	{"empty command", func(g *gen, _, s map[string]any) (string, bool) {
		path, _, set := commandList(g, s)
		set([]any{})
		return path, true
	}},
	{"too many command arguments", func(g *gen, _, s map[string]any) (string, bool) {
		path, _, set := commandList(g, s)
		args := make([]any, g.between(65, 300))
		for i := range args {
			args[i] = g.arg(8)
		}
		set(args)
		return path, true
	}},
	{"too many hosts", func(g *gen, _, s map[string]any) (string, bool) {
		hosts := make([]any, g.between(9, 100))
		for i := range hosts {
			hosts[i] = map[string]any{"node": fmt.Sprintf("n%d", i)}
		}
		s["hosts"] = hosts
		return "spec.hosts", true
	}},
	{"too few hosts", func(g *gen, _, s map[string]any) (string, bool) {
		s["hosts"] = list(s, "hosts")[:g.r.IntN(2)]
		return "spec.hosts", true
	}},
	{"too many shared disks", func(g *gen, _, s map[string]any) (string, bool) {
		disks := make([]any, g.between(17, 100))
		for i := range disks {
			disks[i] = map[string]any{"device": fmt.Sprintf("/dev/mapper/d%d", i)}
		}
		s["sharedDisks"] = disks
		return "spec.sharedDisks", true
	}},
	{"duplicate host", func(g *gen, _, s map[string]any) (string, bool) {
		hosts := list(s, "hosts")
		i, j := g.r.IntN(len(hosts)), g.r.IntN(len(hosts))
		if i == j {
			return "", false
		}
		host(s, j)["node"] = host(s, i)["node"]
		return fmt.Sprintf("spec.hosts[%d]", max(i, j)), true
	}},
	{"duplicate standbyPriority", func(g *gen, _, s map[string]any) (string, bool) {
		hosts := list(s, "hosts")
		for j := range hosts {
			host(s, j)["standbyPriority"] = int64(j + 1)
		}
		i, j := g.r.IntN(len(hosts)), g.r.IntN(len(hosts))
		if i == j {
			return "", false
		}
		host(s, j)["standbyPriority"] = host(s, i)["standbyPriority"]
		return "spec.hosts", true
	}},
	{"standbyPriority on some hosts only", func(g *gen, _, s map[string]any) (string, bool) {
		hosts := list(s, "hosts")
		for j := range hosts {
			delete(host(s, j), "standbyPriority")
		}
		host(s, g.r.IntN(len(hosts)))["standbyPriority"] = int64(1)
		return "spec.hosts", true
	}},
	{"duplicate device", func(g *gen, _, s map[string]any) (string, bool) {
		disks := ensureDisks(g, s)
		if len(disks) < 2 {
			disks = append(disks, map[string]any{"device": g.device()})
			s["sharedDisks"] = disks
		}
		i, j := g.r.IntN(len(disks)), g.r.IntN(len(disks))
		if i == j {
			return "", false
		}
		disks[j].(map[string]any)["device"] = disks[i].(map[string]any)["device"]
		return fmt.Sprintf("spec.sharedDisks[%d]", max(i, j)), true
	}},
	{"patrol timeout not shorter than interval", func(g *gen, _, s map[string]any) (string, bool) {
		p := ensurePatrol(g, s)
		interval := g.between(1, 3_600_000)
		p["interval"] = g.duration(interval)
		p["timeout"] = g.duration(g.between(interval, 2*interval))
		return "spec.patrol.timeout", true
	}},
	{"patrol interval not a duration", func(g *gen, _, s map[string]any) (string, bool) {
		ensurePatrol(g, s)["interval"] = g.pick("10", "1d", "-5s", "1.5s", "ten seconds", "10 s", "10S", "PT10S", "", "1\u0660s", "10s\x00")
		return "spec.patrol.interval", true
	}},
	{"patrol interval out of range", func(g *gen, _, s map[string]any) (string, bool) {
		p := ensurePatrol(g, s)
		field := g.pick("interval", "timeout")
		p[field] = g.pick("99999999999999999999h", "2562048h", "10000h", "9999h9999h9999h9999h9999h9999h9999h", "1000000000ms", "100000m")
		return "spec.patrol." + field, true
	}},
	{"force on a request other than Swap", func(g *gen, _, s map[string]any) (string, bool) {
		req := ensureRequest(g, s)
		req["action"] = g.pick("StopStandby", "End", "Begin", "Act", "ClearReservation")
		req["force"] = true
		return "spec.request.force", true
	}},
	{"switchRetry without switchError Retry", func(g *gen, _, s map[string]any) (string, bool) {
		s["switchError"] = "Stop"
		s["switchRetry"] = int64(g.between(0, 100))
		return "spec.switchRetry", true
	}},
	{"wrong type", func(g *gen, _, s map[string]any) (string, bool) {
		switch g.r.IntN(4) {
		case 0:
			host(s, 0)["node"] = int64(42)
			return "spec.hosts[0].node", true
		case 1:
			s["switchError"], s["switchRetry"] = "Retry", "3"
			return "spec.switchRetry", true
		case 2:
			s["hosts"] = "node-a,node-b"
			return "spec.hosts", true
		}
		s["termCommand"] = "/bin/sh -c true"
		return "spec.termCommand", true
	}},
	{"template without a container", func(g *gen, _, s map[string]any) (string, bool) {
		if g.chance(0.5) {
			s["template"] = map[string]any{}
		} else {
			s["template"] = map[string]any{"spec": map[string]any{"containers": []any{}}}
		}
		return "spec.template", true
	}},
}

// TestGroupNamesAndDurationsAreBounded: the HAServerGroup fields that name
// members or hold a duration refuse what no member name or duration can be.
func TestGroupNamesAndDurationsAreBounded(t *testing.T) {
	cases := []struct {
		name string
		spec map[string]any
		want string
	}{
		{"manager with a NUL", map[string]any{"manager": "db\x00"}, "spec.manager"},
		{"manager with Unicode", map[string]any{"manager": "d\u0431"}, "spec.manager"},
		{"manager with a slash", map[string]any{"manager": "../db"}, "spec.manager"},
		{"skipUnits with upper case", map[string]any{"startLevel": 1, "skipUnits": []any{"ok", "Unit1"}}, "spec.skipUnits[1]"},
		{"skipUnits with a newline", map[string]any{"startLevel": 1, "skipUnits": []any{"a\nb"}}, "spec.skipUnits[0]"},
		{"reducedCheckTime that overflows", map[string]any{"reducedCheckTime": "99999999999999999999h"}, "spec.reducedCheckTime"},
		{"reducedCheckTime of 10000h", map[string]any{"reducedCheckTime": "10000h"}, "spec.reducedCheckTime"},
		{"request node with Unicode", map[string]any{"request": map[string]any{"id": "r", "action": "Swap", "node": "n\u00f6de"}}, "spec.request.node"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "ha.hamon.io/v1alpha1", "kind": "HAServerGroup",
				"metadata": map[string]any{"name": fmt.Sprintf("bounded-%d", i), "namespace": "default"},
				"spec":     c.spec,
			}}
			err := env.Client.Create(t.Context(), u, client.DryRunAll)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error naming %s", err, c.want)
			}
		})
	}
	ok := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "ha.hamon.io/v1alpha1", "kind": "HAServerGroup",
		"metadata": map[string]any{"name": "bounded-ok", "namespace": "default"},
		"spec": map[string]any{"manager": "db.main", "startLevel": 1, "skipUnits": []any{"unit-1", "unit-2"},
			"reducedCheckTime": "9999h59m59s999ms", "request": map[string]any{"id": "r", "action": "Swap", "node": "node-a.example"}},
	}}
	if err := env.Client.Create(t.Context(), ok, client.DryRunAll); err != nil {
		t.Errorf("a valid group at the bounds was refused: %v", err)
	}
}
