package scsipr

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func hx(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The CDBs and parameter lists below are what sg_persist (sg3_utils) sends
// for the same operations, as `sg_persist -vv` prints them, and match the
// layouts of SPC-4 6.15 and 6.16.
func TestOutCDBsMatchSgPersist(t *testing.T) {
	cases := []struct {
		name   string
		action OutAction
		typ    Type
		params OutParams
		cdb    string
		list   string
	}{
		{"register (sg_persist -o -G -S 0x1)", Register, TypeNone, OutParams{ServiceActionKey: 1},
			"5f 00 00 00 00 00 00 00 18 00", "0000000000000000 0000000000000001 00000000 00 00 0000"},
		{"reserve type 5 (sg_persist -o -R -K 0x1 -T 5)", Reserve, TypeWriteExclusiveRegistrantsOnly, OutParams{Key: 1},
			"5f 01 05 00 00 00 00 00 18 00", "0000000000000001 0000000000000000 00000000 00 00 0000"},
		{"preempt and abort (sg_persist -o -A -K 0xb -S 0xa -T 5)", PreemptAndAbort, TypeWriteExclusiveRegistrantsOnly,
			OutParams{Key: 0xb, ServiceActionKey: 0xa}, "5f 05 05 00 00 00 00 00 18 00", "000000000000000b 000000000000000a 00000000 00 00 0000"},
		{"register and ignore, APTPL (sg_persist -o -I -S 0x123abc -Z)", RegisterAndIgnoreExisting, TypeNone,
			OutParams{ServiceActionKey: 0x123abc, APTPL: true}, "5f 06 00 00 00 00 00 00 18 00", "0000000000000000 0000000000123abc 00000000 01 00 0000"},
		{"clear (sg_persist -o -C -K 0x1)", Clear, TypeNone, OutParams{Key: 1},
			"5f 03 00 00 00 00 00 00 18 00", "0000000000000001 0000000000000000 00000000 00 00 0000"},
		{"release type 5 (sg_persist -o -L -K 0x1 -T 5)", Release, TypeWriteExclusiveRegistrantsOnly, OutParams{Key: 1},
			"5f 02 05 00 00 00 00 00 18 00", "0000000000000001 0000000000000000 00000000 00 00 0000"},
		{"register on all target ports (sg_persist -o -G -Y -S 0x1)", Register, TypeNone, OutParams{ServiceActionKey: 1, AllTargetPorts: true},
			"5f 00 00 00 00 00 00 00 18 00", "0000000000000000 0000000000000001 00000000 04 00 0000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cdb, list := OutCDB(c.action, c.typ), c.params.Encode()
			if !bytes.Equal(cdb, hx(t, c.cdb)) {
				t.Errorf("CDB % x, want %s", cdb, c.cdb)
			}
			if !bytes.Equal(list, hx(t, c.list)) {
				t.Errorf("parameter list % x, want %s", list, c.list)
			}
			a, typ, p, err := DecodeOut(cdb, list)
			if err != nil || a != c.action || typ != c.typ || p != c.params {
				t.Errorf("round trip: %v %v %+v %v", a, typ, p, err)
			}
		})
	}
}

func TestInCDBsMatchSgPersist(t *testing.T) {
	// sg_persist -i -k (READ KEYS) and -i -r (READ RESERVATION), allocation length 8192.
	if got := InCDB(ReadKeys, 8192); !bytes.Equal(got, hx(t, "5e 00 00 00 00 00 00 20 00 00")) {
		t.Errorf("READ KEYS CDB % x", got)
	}
	if got := InCDB(ReadReservation, 8192); !bytes.Equal(got, hx(t, "5e 01 00 00 00 00 00 20 00 00")) {
		t.Errorf("READ RESERVATION CDB % x", got)
	}
	a, n, err := DecodeIn(InCDB(ReadReservation, 24))
	if err != nil || a != ReadReservation || n != 24 {
		t.Errorf("DecodeIn: %v %d %v", a, n, err)
	}
}

func TestReadKeys(t *testing.T) {
	// Generation 3, two keys (as sg_persist shows "PR generation=0x3, 2 registered reservation keys follow").
	b := hx(t, "00000003 00000010 0000000000123abc 00000000000000ff")
	k, err := ParseReadKeys(b)
	if err != nil || k.Generation != 3 || len(k.Keys) != 2 || k.Keys[0] != 0x123abc || k.Keys[1] != 0xff {
		t.Fatalf("%+v %v", k, err)
	}
	if !bytes.Equal(EncodeReadKeys(k), b) {
		t.Fatal("encode does not round-trip")
	}
	for _, bad := range []string{"", "000000", "00000003 0000000c 0000000000000001", "00000003 00000010 0000000000000001"} {
		if _, err := ParseReadKeys(hx(t, bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestReadReservation(t *testing.T) {
	held := hx(t, "00000007 00000010 0000000000123abc 00000000 00 05 0000")
	r, err := ParseReadReservation(held)
	if err != nil || !r.Held || r.Key != 0x123abc || r.Type != TypeWriteExclusiveRegistrantsOnly || r.Generation != 7 {
		t.Fatalf("%+v %v", r, err)
	}
	if !bytes.Equal(EncodeReadReservation(r), held) {
		t.Fatal("encode does not round-trip")
	}
	none, err := ParseReadReservation(hx(t, "00000007 00000000"))
	if err != nil || none.Held {
		t.Fatalf("%+v %v", none, err)
	}
	for _, bad := range []string{"0000", "00000007 00000010 00", "00000007 00000008 0000000000000000", "00000007 00000010 0000000000123abc 00000000 00 15 0000"} {
		if _, err := ParseReadReservation(hx(t, bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name      string
		status    byte
		sense     string
		host      uint16
		want      error
		retry     bool
		preempted bool
	}{
		{"good", StatusGood, "", 0, nil, false, false},
		{"reservation conflict (status 0x18, no sense)", StatusReservationConflict, "", 0, ErrReservationConflict, false, false},
		{"unit attention power on/reset, fixed format", StatusCheckCondition, "70 00 06 00 00 00 00 0a 00 00 00 00 29 00 00 00 00 00", 0, ErrUnitAttention, true, false},
		{"unit attention reservations preempted, descriptor format", StatusCheckCondition, "72 06 2a 03 00 00 00 00", 0, ErrUnitAttention, true, true},
		{"unit attention registrations preempted", StatusCheckCondition, "70 00 06 00 00 00 00 0a 00 00 00 00 2a 05 00 00 00 00", 0, ErrUnitAttention, true, true},
		{"not ready, becoming ready", StatusCheckCondition, "70 00 02 00 00 00 00 0a 00 00 00 00 04 01 00 00 00 00", 0, ErrNotReady, true, false},
		{"not ready, medium not present", StatusCheckCondition, "70 00 02 00 00 00 00 0a 00 00 00 00 3a 00 00 00 00 00", 0, ErrNotReady, false, false},
		{"illegal request, invalid opcode", StatusCheckCondition, "70 00 05 00 00 00 00 0a 00 00 00 00 20 00 00 00 00 00", 0, ErrIllegalRequest, false, false},
		{"transport: DID_NO_CONNECT", StatusGood, "", 0x01, ErrTransport, false, false},
		{"transport: DID_TRANSPORT_DISRUPTED", StatusGood, "", 0x0e, ErrTransport, false, false},
		{"recovered error is success", StatusCheckCondition, "70 00 01 00 00 00 00 0a 00 00 00 00 17 00 00 00 00 00", 0, nil, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var sense []byte
			if c.sense != "" {
				sense = hx(t, c.sense)
			}
			err := Classify(c.status, sense, c.host, 0)
			if c.want == nil {
				if err != nil {
					t.Fatalf("got %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Retryable() != c.retry || e.ReservationsPreempted() != c.preempted {
				t.Fatalf("%v: retryable=%t preempted=%t", err, e.Retryable(), e.ReservationsPreempted())
			}
			if errors.Is(err, ErrTransport) != errors.Is(c.want, ErrTransport) {
				t.Fatal("kinds are not told apart")
			}
		})
	}
}

func TestShortSenseIsAnErrorNotAGuess(t *testing.T) {
	for _, s := range []string{"", "70 00 06", "72 06", "7f 00 00 00"} {
		var b []byte
		if s != "" {
			b = hx(t, s)
		}
		err := Classify(StatusCheckCondition, b, 0, 0)
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindOther {
			t.Errorf("%q: %v", s, err)
		}
	}
}

// The parsers take device answers, which are untrusted: they must never
// panic, whatever the bytes.
func FuzzParsers(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0x12, 0x3a, 0xbc})
	f.Add([]byte{0x72, 0x06, 0x2a, 0x03})
	f.Add([]byte{0x5f, 0x05, 0x05, 0, 0, 0, 0, 0, 0x18, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseReadKeys(b)
		_, _ = ParseReadReservation(b)
		_, _ = ParseSense(b)
		_ = Classify(StatusCheckCondition, b, 0, 0)
		if len(b) >= 10 {
			_, _, _, _ = DecodeOut(b[:10], b[10:])
			_, _, _ = DecodeIn(b)
		}
	})
}
