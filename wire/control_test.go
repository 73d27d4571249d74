package wire

import (
	"testing"
)

func TestParseControl(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want Control
		err  string
	}{
		{`{"type":"size","cols":80,"rows":24}`, Control{Type: "size", Cols: 80, Rows: 24}, ""},
		{`{"type":"size","cols":80,"rows":24,"flow":true}`, Control{Type: "size", Cols: 80, Rows: 24, Flow: true}, ""},
		{`{"type":"size","cols":65535,"rows":1}`, Control{Type: "size", Cols: 65535, Rows: 1}, ""},
		{`{"type":"ack","bytes":4096}`, Control{Type: "ack", Bytes: 4096}, ""},
		{`{"type":"future","x":[1,2]}`, Control{Type: "future"}, ""},
		{`{"type":"size","cols":0,"rows":24}`, Control{}, "size 0x24 out of range"},
		{`{"type":"size","cols":80,"rows":65536}`, Control{}, "size 80x65536 out of range"},
		{`{"type":"size","cols":-1,"rows":5}`, Control{}, "size -1x5 out of range"},
		{`{"type":"ack","bytes":-1}`, Control{}, "negative ack"},
		{`{"type":"size","cols":"80","rows":24}`, Control{}, "a text message must be a JSON control message"},
		{`{"cols":80}`, Control{}, "a control message needs a type"},
		{`ls -l`, Control{}, "a text message must be a JSON control message"},
		{``, Control{}, "a text message must be a JSON control message"},
	} {
		got, err := ParseControl([]byte(tc.msg))
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("%s: error %v, want %q", tc.msg, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%s: %+v %v, want %+v", tc.msg, got, err, tc.want)
		}
	}
}

// FuzzControl: any text message is refused or read into a size the kernel
// takes or a non-negative ack; it never panics.
func FuzzControl(f *testing.F) {
	f.Add([]byte(`{"type":"size","cols":80,"rows":24,"flow":true}`))
	f.Add([]byte(`{"type":"ack","bytes":1e3}`))
	f.Add([]byte(`{"type":"size","cols":1e10}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, err := ParseControl(msg)
		if err != nil {
			return
		}
		if c.Type == "size" && (c.Cols < 1 || c.Rows < 1 || c.Cols > 65535 || c.Rows > 65535) {
			t.Fatalf("accepted size %dx%d", c.Cols, c.Rows)
		}
		if c.Type == "ack" && c.Bytes < 0 {
			t.Fatalf("accepted ack %d", c.Bytes)
		}
	})
}

func TestMarshal(t *testing.T) {
	for _, tc := range []struct {
		got  []byte
		want string
	}{
		{Control{Type: TypeSize, Cols: 80, Rows: 24}.Marshal(), `{"type":"size","cols":80,"rows":24}`},
		{Control{Type: TypeSize, Cols: 80, Rows: 24, Flow: true}.Marshal(), `{"type":"size","cols":80,"rows":24,"flow":true}`},
		{Control{Type: TypeAck, Bytes: 4096}.Marshal(), `{"type":"ack","bytes":4096}`},
		{Title{Title: "<top> & co"}.Marshal(), `{"title":"<top> & co","type":"title"}`},
		{Exit{Code: ExitCode(3), Reason: "exit 3"}.Marshal(), `{"type":"exit","code":4003,"reason":"exit 3"}`},
		{Exit{Code: NormalClosure, Reason: ""}.Marshal(), `{"type":"exit","code":1000,"reason":""}`},
		{Session{ID: "a", Watch: "b"}.Marshal(), `{"type":"session","id":"a","watch":"b"}`},
		{Session{Watch: "b"}.Marshal(), `{"type":"session","watch":"b"}`},
		{Watchers{Count: 2}.Marshal(), `{"type":"watchers","count":2}`},
		{Replayed, `{"type":"replayed"}`},
	} {
		if string(tc.got) != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
	// What a client marshals, the server parses back.
	for _, c := range []Control{{Type: TypeSize, Cols: 1, Rows: MaxSize, Flow: true}, {Type: TypeAck, Bytes: 1 << 40}} {
		if got, err := ParseControl(c.Marshal()); err != nil || got != c {
			t.Errorf("%+v: parsed back as %+v, %v", c, got, err)
		}
	}
}

func TestParseServerMessage(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want ServerMessage
		ok   bool
	}{
		{string(Title{Title: "top"}.Marshal()), ServerMessage{Type: TypeTitle, Title: "top"}, true},
		{string(Exit{Code: SignalCode(9), Reason: "signal 9 (killed)"}.Marshal()), ServerMessage{Type: TypeExit, Code: 4309, Reason: "signal 9 (killed)"}, true},
		{string(Session{ID: "a", Watch: "b"}.Marshal()), ServerMessage{Type: TypeSession, ID: "a", Watch: "b"}, true},
		{string(Watchers{Count: 3}.Marshal()), ServerMessage{Type: TypeWatchers, Count: 3}, true},
		{string(Replayed), ServerMessage{Type: TypeReplayed}, true},
		{`{"type":"future","x":[1]}`, ServerMessage{Type: "future"}, true},
		{`{"type":"title","title":"a"} trailing`, ServerMessage{Type: TypeTitle, Title: "a"}, true},
		{`not json`, ServerMessage{}, false},
		{``, ServerMessage{}, false},
	} {
		got, err := ParseServerMessage([]byte(tc.msg))
		if (err == nil) != tc.ok || tc.ok && got != tc.want {
			t.Errorf("%s: %+v %v, want %+v", tc.msg, got, err, tc.want)
		}
	}
}
