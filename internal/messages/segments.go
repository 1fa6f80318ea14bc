package messages

import "unicode/utf16"

// Encoding is how an SMS travels: GSM-7 when every character is in the
// GSM 03.38 alphabet, else UCS-2.
type Encoding string

const (
	GSM7 Encoding = "GSM-7"
	UCS2 Encoding = "UCS-2"
)

// gsmBasic is GSM 03.38's default alphabet, one septet each (the escape
// 0x1B left out: it only introduces the extension table).
const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsmExtended are the extension table's characters, two septets each
// (escape + character).
const gsmExtended = "\f^{}\\[~]|€"

var gsmWidth = func() map[rune]int {
	m := map[rune]int{}
	for _, r := range gsmBasic {
		m[r] = 1
	}
	for _, r := range gsmExtended {
		m[r] = 2
	}
	return m
}()

// Segments counts the SMS segments a text takes, as carriers and Twilio bill
// them: GSM-7 fits 160 septets in one segment and 153 in each of several
// (the rest is the concatenation header); UCS-2 fits 70 UTF-16 units, or
// 67 each. A character is never split across two segments: an escaped
// GSM-7 character or a surrogate pair that does not fit moves to the next.
func Segments(text string) (int, Encoding) {
	var widths []int
	enc := GSM7
	for _, r := range text {
		w, ok := gsmWidth[r]
		if !ok {
			enc = UCS2
			break
		}
		widths = append(widths, w)
	}
	single, multi := 160, 153
	if enc == UCS2 {
		widths = widths[:0]
		for _, r := range text {
			widths = append(widths, utf16.RuneLen(r))
		}
		single, multi = 70, 67
	}
	total := 0
	for _, w := range widths {
		total += w
	}
	if total <= single {
		return 1, enc
	}
	segments, used := 1, 0
	for _, w := range widths {
		if used+w > multi {
			segments++
			used = 0
		}
		used += w
	}
	return segments, enc
}
