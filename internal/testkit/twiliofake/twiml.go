package twiliofake

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strings"
)

var (
	codeRe = regexp.MustCompile(`\b\d{4,10}\b`)
	// A code read out slowly, digit by digit: "1, 2, 3, 4, 5, 6".
	spokenCodeRe = regexp.MustCompile(`\b\d(?:, \d){3,9}\b`)
)

// CodeIn extracts the verification code from an SMS or WhatsApp body (the
// first run of 4 to 10 digits) or from a call's TwiML or speech, where it is
// spoken digit by digit ("1, 2, 3, 4, 5, 6" gives "123456"). The spoken form
// wins when both are there: single digits between commas are never an
// accident, while a 4-digit run in a call may be part of the brand.
func CodeIn(text string) string {
	if s := spokenCodeRe.FindString(text); s != "" {
		return strings.ReplaceAll(s, ", ", "")
	}
	return codeRe.FindString(text)
}

// Say is one <Say> of a TwiML document: what the call speaks, and how.
type Say struct {
	Language string // the language attribute, "" when absent
	Voice    string // the voice attribute, "" when absent
	Text     string // the spoken text, SSML tags dropped, trimmed
}

// SpokenIn returns the <Say> verbs of a TwiML document in document order,
// nested ones (in <Gather>) included. It returns nil for a document that is
// not well-formed.
func SpokenIn(twiml string) []Say {
	d := xml.NewDecoder(strings.NewReader(twiml))
	var (
		says  []Say
		text  strings.Builder
		depth int // inside the current <Say>; 0 when outside
	)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return says
		}
		if err != nil {
			return nil
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth > 0 {
				depth++ // SSML inside the Say: keep its text
			} else if t.Name.Local == "Say" {
				says = append(says, Say{Language: attr(t, "language"), Voice: attr(t, "voice")})
				text.Reset()
				depth = 1
			}
		case xml.EndElement:
			if depth > 0 {
				if depth--; depth == 0 {
					says[len(says)-1].Text = strings.TrimSpace(text.String())
				}
			}
		case xml.CharData:
			if depth > 0 {
				text.Write(t)
			}
		}
	}
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// twimlRoot reads a whole document, so that any XML fault surfaces, and
// returns its root element's name. Text outside the root or a second root
// are faults, as in any XML document.
func twimlRoot(doc string) (string, error) {
	d := xml.NewDecoder(strings.NewReader(doc))
	var root string
	depth := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if root == "" {
				return "", errors.New("no root element")
			}
			return root, nil
		}
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 && root != "" {
				return "", errors.New("more than one root element")
			}
			if depth == 0 {
				root = t.Name.Local
				if t.Name.Space != "" {
					root = t.Name.Space + ":" + root
				}
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return "", errors.New("text outside the root element")
			}
		}
	}
}
