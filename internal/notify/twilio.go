package notify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TwilioOptions configure a Twilio transport.
type TwilioOptions struct {
	AccountSID string // "AC" and 32 hex digits, also the basic-auth user
	AuthToken  string // the basic-auth password; never in an error or a log
	From       string // a Twilio number (E.164), or for SMS only an alphanumeric sender id
	// BaseURL is where the REST API is; default https://api.twilio.com. A test
	// double or a regional edge may sit here.
	BaseURL    string
	HTTPClient *http.Client  // default: a client of its own
	Timeout    time.Duration // bounds each request, answer included; default 10s
	// StatusCallback, if set, is the URL Twilio posts an SMS's status changes
	// to (signed with the auth token): a message it took and then could not
	// deliver (30003–30008) is reported there.
	StatusCallback string
}

// Twilio is the SMS and voice Transport through Twilio's REST API: an SMS is
// a Message with Body, a call a Call with inline TwiML that reads the script.
type Twilio struct {
	messagesURL, callsURL string
	sid, token, from      string
	client                *http.Client
	timeout               time.Duration
	statusCallback        string
}

// NewTwilio checks o and returns a Twilio transport; it connects only when it
// delivers. Its errors name what is missing or wrong, never the token.
func NewTwilio(o TwilioOptions) (*Twilio, error) {
	switch {
	case o.AccountSID == "":
		return nil, errors.New("notify: twilio: no account SID")
	case o.AuthToken == "":
		return nil, errors.New("notify: twilio: no auth token")
	case o.From == "":
		return nil, errors.New("notify: twilio: no From number")
	}
	base := o.BaseURL
	if base == "" {
		base = "https://api.twilio.com"
	}
	u, err := parseHTTPURL("twilio: base URL", base)
	if err != nil {
		return nil, err
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("notify: twilio: base URL: unexpected user, query or fragment")
	}
	account := strings.TrimSuffix(u.String(), "/") + "/2010-04-01/Accounts/" + url.PathEscape(o.AccountSID)
	t := &Twilio{messagesURL: account + "/Messages.json", callsURL: account + "/Calls.json",
		sid: o.AccountSID, token: o.AuthToken, from: o.From, client: o.HTTPClient, timeout: o.Timeout,
		statusCallback: o.StatusCallback}
	if o.StatusCallback != "" {
		if _, err := parseHTTPURL("twilio: status callback", o.StatusCallback); err != nil {
			return nil, err
		}
	}
	if t.client == nil {
		t.client = &http.Client{}
	}
	if t.timeout <= 0 {
		t.timeout = defaultPhoneTimeout
	}
	return t, nil
}

// Deliver sends m.Text as an SMS (channel "sms") or reads it in a call
// (channel "voice", in m.Locale's language, each paragraph a <Say> with a
// pause between), and returns Twilio's sid for it.
//
// An SMS carries a ValidityPeriod of the code's remaining life (m.ValidFor),
// so that Twilio drops rather than delivers it hours late (its default is 10
// hours), and the StatusCallback, if configured. Twilio has no idempotency
// key: an attempt that timed out, or whose worker died, may have been taken.
// So a retry (m.Attempt > 1) of an SMS first lists the messages Twilio holds
// to this number from this sender, and when one created since m.QueuedAt has
// the same text (the same code), returns its sid instead of sending again.
//
// Errors: an invalid, landline, unverified (trial account), unsubscribed or
// not enabled recipient (Twilio 21211, 21614, 21608, 21219, 21610, 21408,
// 21215), any other 4xx answer, a channel other than sms or voice and a
// recipient not in E.164 form are Permanent; refused credentials (20003 or
// HTTP 401) are temporary and marked Operator; 429, 5xx and network failures
// are temporary. No error holds the token, the text or the number.
func (t *Twilio) Deliver(ctx context.Context, m Rendered) (string, error) {
	if err := checkPhone("twilio", m); err != nil {
		return "", err
	}
	form := url.Values{"To": {m.To}, "From": {t.from}}
	target := t.messagesURL
	if m.Channel == "sms" {
		if m.Attempt > 1 {
			if sid, err := t.tookEarlier(ctx, m); err != nil || sid != "" {
				return sid, err
			}
		}
		form.Set("Body", m.Text)
		if m.ValidFor > 0 {
			// Whole seconds, rounded up, within Twilio's 1 to 36,000.
			left := int(math.Ceil(m.ValidFor.Seconds()))
			form.Set("ValidityPeriod", strconv.Itoa(min(left, 36000)))
		}
		if t.statusCallback != "" {
			form.Set("StatusCallback", t.statusCallback)
		}
	} else {
		twiml, err := twimlFor(m.Locale, m.Text)
		if err != nil {
			return "", Permanent(err)
		}
		form.Set("Twiml", twiml)
		target = t.callsURL
	}
	header := t.header()
	header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, body, err := post(ctx, t.client, t.timeout, target, header, form.Encode(), "twilio")
	if err != nil {
		return "", err
	}
	var answer struct {
		SID     string `json:"sid"`
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &answer) // an answer that is not Twilio's JSON is judged by its status
	if status/100 == 2 {
		return answer.SID, nil
	}
	return "", twilioError(status, answer.Code, answer.Message)
}

func (t *Twilio) header() http.Header {
	return http.Header{"Accept": {"application/json"},
		"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(t.sid+":"+t.token))}}
}

// tookEarlier asks Twilio whether it already holds the SMS m (an earlier
// attempt whose answer was lost) and returns its sid, or "" when it does not.
// Twilio's Messages list, filtered by To and From, comes newest first; a
// message created since m was queued with the same body is the one. A trial
// account prefixes bodies, hence the suffix. Its error is temporary: sending
// blind could send twice.
func (t *Twilio) tookEarlier(ctx context.Context, m Rendered) (string, error) {
	q := url.Values{"To": {m.To}, "From": {t.from}, "PageSize": {"50"}}
	status, body, err := get(ctx, t.client, t.timeout, t.messagesURL+"?"+q.Encode(), t.header(), "twilio")
	if err != nil {
		return "", fmt.Errorf("notify: twilio: checking for an earlier attempt: %w", err)
	}
	var list struct {
		Messages []struct {
			SID         string `json:"sid"`
			Body        string `json:"body"`
			DateCreated string `json:"date_created"`
		} `json:"messages"`
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &list)
	if status/100 != 2 {
		if err := twilioError(status, list.Code, list.Message); IsOperator(err) {
			return "", err
		}
		return "", fmt.Errorf("notify: twilio: checking for an earlier attempt: HTTP %d", status)
	}
	since := m.QueuedAt.Add(-time.Minute) // clocks differ
	for _, msg := range list.Messages {
		created, err := time.Parse(time.RFC1123Z, msg.DateCreated)
		if msg.SID != "" && strings.HasSuffix(msg.Body, m.Text) && (err != nil || !created.Before(since)) {
			return msg.SID, nil
		}
	}
	return "", nil
}

// twilioRecipientErrors are Twilio's error codes for a recipient that no retry
// will reach, worded for the operator.
var twilioRecipientErrors = map[int]string{
	21211: "the 'To' number is not a valid phone number",
	21614: "the 'To' number is not a mobile number, it cannot receive SMS",
	21608: "the 'To' number is not verified, and a trial account sends only to verified numbers",
	21219: "the 'To' number is not verified, and a trial account calls only verified numbers",
	21610: "the recipient has unsubscribed from this sender (replied STOP)",
	21408: "SMS to this region is not enabled in the Twilio account (geographic permissions)",
	21215: "calls to this region are not enabled in the Twilio account (geographic permissions)",
}

// twilioError judges a Twilio error answer: HTTP status, Twilio code and message.
func twilioError(status, code int, message string) error {
	if text, ok := twilioRecipientErrors[code]; ok {
		return Permanent(fmt.Errorf("notify: twilio: %s (%d)", text, code))
	}
	if code == 20003 || status == http.StatusUnauthorized {
		return Operator(errors.New("notify: twilio: authentication failed (20003): " +
			"check TWOSTEP_TWILIO_ACCOUNT_SID and TWOSTEP_TWILIO_AUTH_TOKEN"))
	}
	what := fmt.Sprintf("HTTP %d", status)
	if code != 0 {
		what += fmt.Sprintf(", error %d", code)
	}
	if says := providerSays(message); says != "" {
		what += ": " + says
	}
	err := fmt.Errorf("notify: twilio: %s", what)
	if status/100 == 4 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout {
		return Permanent(err)
	}
	return err
}

// sayLanguages are the <Say> languages of the locales.
var sayLanguages = map[string]string{"en": "en-US", "fr": "fr-FR", "ja": "ja-JP"}

type twimlResponse struct {
	XMLName xml.Name `xml:"Response"`
	Verbs   []any
}

type twimlSay struct {
	XMLName  xml.Name `xml:"Say"`
	Language string   `xml:"language,attr"`
	Text     string   `xml:",chardata"`
}

type twimlPause struct {
	XMLName xml.Name `xml:"Pause"`
	Length  int      `xml:"length,attr"`
}

// twimlMax is the most Twilio takes in the Twiml parameter.
const twimlMax = 4000

// twimlFor is the TwiML of a call reading script in locale's language: each
// paragraph (blocks apart by a blank line) a <Say>, a one-second <Pause>
// between them. encoding/xml escapes the text.
func twimlFor(locale, script string) (string, error) {
	lang, ok := sayLanguages[locale]
	if !ok {
		lang = sayLanguages["en"]
	}
	var r twimlResponse
	for _, block := range strings.Split(script, "\n\n") {
		block = strings.Join(strings.Fields(block), " ")
		if block == "" {
			continue
		}
		if len(r.Verbs) > 0 {
			r.Verbs = append(r.Verbs, twimlPause{Length: 1})
		}
		r.Verbs = append(r.Verbs, twimlSay{Language: lang, Text: block})
	}
	if len(r.Verbs) == 0 {
		return "", errors.New("notify: twilio: nothing to say")
	}
	b, err := xml.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("notify: twilio: TwiML: %w", err)
	}
	if len(b) > twimlMax {
		return "", fmt.Errorf("notify: twilio: TwiML of %d bytes, Twilio takes at most %d", len(b), twimlMax)
	}
	return string(b), nil
}
