package messages

// builtin are the texts shipped with otpd: the SMS (and WhatsApp) text and
// the voice speech of each locale, and the Twilio <Say> language and voice
// that read it. {brand} is OTP_BRAND (or a request's brand from
// OTP_BRANDS), {code} the code; a call reads the code digit by digit.
//
// The voices are Google's standard voices as Twilio offers them
// ("Google.<language>-Standard-A"); an operator whose account lacks one
// picks another in OTP_TEMPLATES. Each text is short enough that, with a
// 10-digit code, a 30-character brand and an Android app hash line, it
// fits in two SMS segments (TestBuiltinTextsFitTwoSegments).
var builtin = []entry{
	{id: "en", tag: "en", sms: "Your {brand} verification code is: {code}",
		call: "Your {brand} verification code is: {code}.", lang: "en-US"},
	{id: "es", tag: "es", sms: "Tu código de verificación de {brand} es: {code}",
		call: "Tu código de verificación de {brand} es: {code}.", lang: "es-ES"},
	{id: "pt-BR", tag: "pt-BR", sms: "Seu código de verificação {brand} é: {code}",
		call: "Seu código de verificação {brand} é: {code}.", lang: "pt-BR"},
	// "pt" is European Portuguese, as in Twilio Verify (CLDR would read it
	// as Brazilian).
	{id: "pt", tag: "pt-PT", sms: "O seu código de verificação {brand} é: {code}",
		call: "O seu código de verificação {brand} é: {code}.", lang: "pt-PT"},
	{id: "fr", tag: "fr", sms: "Votre code de vérification {brand} est : {code}",
		call: "Votre code de vérification {brand} est : {code}.", lang: "fr-FR"},
	{id: "de", tag: "de", sms: "Ihr {brand} Bestätigungscode lautet: {code}",
		call: "Ihr {brand} Bestätigungscode lautet: {code}.", lang: "de-DE"},
	{id: "it", tag: "it", sms: "Il tuo codice di verifica {brand} è: {code}",
		call: "Il tuo codice di verifica {brand} è: {code}.", lang: "it-IT"},
	{id: "nl", tag: "nl", sms: "Je {brand} verificatiecode is: {code}",
		call: "Je {brand} verificatiecode is: {code}.", lang: "nl-NL"},
	{id: "pl", tag: "pl", sms: "Twój kod weryfikacyjny {brand} to: {code}",
		call: "Twój kod weryfikacyjny {brand} to: {code}.", lang: "pl-PL"},
	{id: "ru", tag: "ru", sms: "Ваш код подтверждения {brand}: {code}",
		call: "Ваш код подтверждения {brand}: {code}.", lang: "ru-RU"},
	{id: "uk", tag: "uk", sms: "Ваш код підтвердження {brand}: {code}",
		call: "Ваш код підтвердження {brand}: {code}.", lang: "uk-UA"},
	{id: "tr", tag: "tr", sms: "{brand} doğrulama kodunuz: {code}",
		call: "{brand} doğrulama kodunuz: {code}.", lang: "tr-TR"},
	{id: "ar", tag: "ar", sms: "رمز التحقق الخاص بك في {brand} هو: {code}",
		call: "رمز التحقق الخاص بك في {brand} هو: {code}.", lang: "ar-XA"},
	{id: "he", tag: "he", sms: "קוד האימות שלך ב-{brand} הוא: {code}",
		call: "קוד האימות שלך ב-{brand} הוא: {code}.", lang: "he-IL"},
	{id: "hi", tag: "hi", sms: "आपका {brand} सत्यापन कोड है: {code}",
		call: "आपका {brand} सत्यापन कोड है: {code}.", lang: "hi-IN"},
	{id: "bn", tag: "bn", sms: "আপনার {brand} যাচাইকরণ কোড: {code}",
		call: "আপনার {brand} যাচাইকরণ কোড: {code}.", lang: "bn-IN"},
	{id: "id", tag: "id", sms: "Kode verifikasi {brand} Anda adalah: {code}",
		call: "Kode verifikasi {brand} Anda adalah: {code}.", lang: "id-ID"},
	{id: "ms", tag: "ms", sms: "Kod pengesahan {brand} anda ialah: {code}",
		call: "Kod pengesahan {brand} anda ialah: {code}.", lang: "ms-MY"},
	{id: "th", tag: "th", sms: "รหัสยืนยัน {brand} ของคุณคือ: {code}",
		call: "รหัสยืนยัน {brand} ของคุณคือ: {code}", lang: "th-TH"},
	{id: "vi", tag: "vi", sms: "Mã xác minh {brand} của bạn là: {code}",
		call: "Mã xác minh {brand} của bạn là: {code}.", lang: "vi-VN"},
	{id: "ja", tag: "ja", sms: "{brand}の認証コード: {code}",
		call: "{brand}の認証コードは、{code}です。", lang: "ja-JP"},
	{id: "ko", tag: "ko", sms: "{brand} 인증 코드: {code}",
		call: "{brand} 인증 코드는 {code}입니다.", lang: "ko-KR"},
	{id: "zh-CN", tag: "zh-CN", sms: "您的{brand}验证码是：{code}",
		call: "您的{brand}验证码是：{code}。", lang: "cmn-CN"},
	{id: "zh-HK", tag: "zh-HK", sms: "你的{brand}驗證碼是：{code}",
		call: "你的{brand}驗證碼是：{code}。", lang: "yue-HK"},
	{id: "sv", tag: "sv", sms: "Din verifieringskod för {brand} är: {code}",
		call: "Din verifieringskod för {brand} är: {code}.", lang: "sv-SE"},
	{id: "da", tag: "da", sms: "Din {brand}-bekræftelseskode er: {code}",
		call: "Din {brand}-bekræftelseskode er: {code}.", lang: "da-DK"},
	{id: "nb", tag: "nb", sms: "Din bekreftelseskode for {brand} er: {code}",
		call: "Din bekreftelseskode for {brand} er: {code}.", lang: "nb-NO"},
	{id: "fi", tag: "fi", sms: "{brand}-vahvistuskoodisi on: {code}",
		call: "{brand}-vahvistuskoodisi on: {code}.", lang: "fi-FI"},
	{id: "cs", tag: "cs", sms: "Váš ověřovací kód {brand} je: {code}",
		call: "Váš ověřovací kód {brand} je: {code}.", lang: "cs-CZ"},
	{id: "ro", tag: "ro", sms: "Codul tău de verificare {brand} este: {code}",
		call: "Codul tău de verificare {brand} este: {code}.", lang: "ro-RO"},
	{id: "hu", tag: "hu", sms: "Az Ön {brand} ellenőrző kódja: {code}",
		call: "Az Ön {brand} ellenőrző kódja: {code}.", lang: "hu-HU"},
	{id: "el", tag: "el", sms: "Ο κωδικός επαλήθευσης {brand} είναι: {code}",
		call: "Ο κωδικός επαλήθευσης {brand} είναι: {code}.", lang: "el-GR"},
}
