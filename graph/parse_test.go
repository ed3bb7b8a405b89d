package graph

import (
	"net/http"
	"testing"
	"time"
)

func TestParseNextExpectedRanges(t *testing.T) {
	tests := []struct {
		name   string
		in     []string
		want   int64
		wantOK bool
	}{
		{"fresh session", []string{"0-"}, 0, true},
		{"outlook bare offset", []string{"2097152"}, 2097152, true},
		{"onedrive range", []string{"4194304-8388607"}, 4194304, true},
		{"open range", []string{"12-"}, 12, true},
		{"spaces", []string{" 7 - 9 "}, 7, true},
		{"first of several", []string{"10-19", "30-39"}, 10, true},
		{"empty list", nil, 0, false},
		{"empty string", []string{""}, 0, false},
		{"only dash", []string{"-"}, 0, false},
		{"negative", []string{"-5"}, 0, false},
		{"end before start", []string{"9-3"}, 0, false},
		{"garbage", []string{"abc"}, 0, false},
		{"plus sign", []string{"+5"}, 0, false},
		{"overflow", []string{"99999999999999999999"}, 0, false},
		{"bytes prefix", []string{"bytes=0-"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseNextExpectedRanges(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("parseNextExpectedRanges(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"integer", "5", 5 * time.Second, true},
		{"zero", "0", 0, true},
		{"fractional", "2.128", 2128 * time.Millisecond, true},
		{"small fraction", "0.05", 50 * time.Millisecond, true},
		{"leading dot", ".5", 500 * time.Millisecond, true},
		{"spaces", " 3 ", 3 * time.Second, true},
		{"http date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"rfc850 date", now.Add(10 * time.Second).Format(time.RFC850), 10 * time.Second, true},
		{"date in the past", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"far future date", now.Add(1000 * time.Hour).Format(http.TimeFormat), maxRetryAfter, true},
		{"huge integer", "999999999999999999999", maxRetryAfter, true},
		{"empty", "", 0, false},
		{"negative", "-1", 0, false},
		{"trailing dot", "3.", 0, false},
		{"only dot", ".", 0, false},
		{"exponent", "1e3", 0, false},
		{"words", "soon", 0, false},
		{"NaN", "NaN", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseRetryAfter(tt.in, now)
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParseAttachmentLocation(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   string
		wantOK bool
	}{
		{"message", "https://outlook.office.com/api/v2.0/Users('u@t')/Messages('m')/Attachments('AAMkAD=')", "AAMkAD=", true},
		{"event", "https://outlook.office.com/api/v2.0/Users('u@t')/Events('e1')/Attachments('AAMkEv')", "AAMkEv", true},
		{"gv1.0 host", "https://outlook.office365.com/api/gv1.0/users('u@t')/messages('m')/attachments('a+b/c')", "a+b/c", true},
		{"escaped quotes", "https://h/api/v2.0/Users(%27u%27)/Messages(%27m%27)/Attachments(%27AAMk%2Bx%3D%27)", "AAMk+x=", true},
		{"escaped id only", "https://h/api/v2.0/Users('u')/Messages('m')/Attachments('AAMk%2Bx%3D')", "AAMk+x=", true},
		{"double quotes", `https://h/Users("u")/Messages("m")/Attachments("AAMk")`, "AAMk", true},
		{"doubled quote", "https://h/Messages('m')/Attachments('it''s')", "it's", true},
		{"unquoted key", "https://h/Messages('m')/Attachments(AAMk)", "AAMk", true},
		{"trailing slash segment", "https://h/Messages('m')/Attachments('AAMk')/$value", "AAMk", true},
		{"with query", "https://h/Messages('m')/Attachments('AAMk')?x=1", "AAMk", true},
		{"relative", "/api/v2.0/Users('u')/Messages('m')/Attachments('rel')", "rel", true},
		{"case", "https://h/MESSAGES('m')/ATTACHMENTS('up')", "up", true},
		{"empty", "", "", false},
		{"no attachments", "https://h/Users('u')/Messages('m')", "", false},
		{"unterminated", "https://h/Messages('m')/Attachments('AAMk", "", false},
		{"empty id", "https://h/Messages('m')/Attachments('')", "", false},
		{"junk after", "https://h/Messages('m')/Attachments('a')x", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseAttachmentLocation(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("parseAttachmentLocation(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
