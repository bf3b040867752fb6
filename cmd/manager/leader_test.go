package main

import (
	"strings"
	"testing"
	"time"
)

func TestDeriveLeaderTiming_WithinTheHostLease(t *testing.T) {
	for _, host := range []time.Duration{2 * time.Second, 4 * time.Second, 10 * time.Second, 40 * time.Second} {
		lt := deriveLeaderTiming(host)
		if err := lt.validate(); err != nil {
			t.Errorf("host lease %s: derived %+v: %v", host, lt, err)
		}
		// A replica that died with its host is replaced (lease + two looks,
		// client-go's jitter included) within the host lease + 2 s.
		if worst := lt.LeaseDuration + lt.RetryPeriod*22/10; worst > host+2*time.Second {
			t.Errorf("host lease %s: a new leader after up to %s", host, worst)
		}
	}
}

func TestLeaderTiming_ValidateNamesTheFlag(t *testing.T) {
	for _, c := range []struct {
		lt   leaderTiming
		flag string
	}{
		{leaderTiming{LeaseDuration: 8 * time.Second, RenewDeadline: 6 * time.Second}, "--leader-elect-retry-period"},
		{leaderTiming{LeaseDuration: 8 * time.Second, RenewDeadline: time.Second, RetryPeriod: time.Second}, "--leader-elect-renew-deadline"},
		{leaderTiming{LeaseDuration: 6 * time.Second, RenewDeadline: 6 * time.Second, RetryPeriod: time.Second}, "--leader-elect-lease-duration"},
	} {
		err := c.lt.validate()
		if err == nil || !strings.HasPrefix(err.Error(), c.flag) {
			t.Errorf("%+v: %v, want an error naming %s", c.lt, err, c.flag)
		}
	}
}
