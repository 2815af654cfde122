package nodehelper

import "testing"

func TestSummaryFree(t *testing.T) {
	got, err := SummaryFree([]byte(`{"node":{"nodeName":"cp-1","fs":{"availableBytes":123456789,"capacityBytes":999999999}},"pods":[]}`))
	if err != nil || got != 123456789 {
		t.Errorf("SummaryFree = %d, %v", got, err)
	}
	for _, bad := range []string{`{"node":{"nodeName":"cp-1"}}`, `{"node":{"fs":{}}}`, `not json`} {
		if _, err := SummaryFree([]byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
