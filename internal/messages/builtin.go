package messages

// builtin are the texts shipped with otpd: the SMS (and WhatsApp) text and
// the voice speech of each locale, and the Twilio <Say> language and voice
// that read it. {brand} is OTP_BRAND (or a request's brand from
// OTP_BRANDS), {code} the code; a call reads the code digit by digit.
//
// The voices are Google's standard voices as Twilio's text-to-speech table
// names them (as published in 2025; el, hu, ms and uk could not be checked
// against it): Twilio may fail a <Say> whose voice and language do not go
// together, so each locale names its voice. An operator whose account
// lacks one picks another in OTP_TEMPLATES. Each text is short enough that, with a
// 10-digit code, a 30-character brand and an Android app hash line, it
// fits in two SMS segments (TestBuiltinTextsFitTwoSegments).
var builtin = []entry{
	{id: "en", tag: "en", sms: "Your {brand} verification code is: {code}",
		call: "Your {brand} verification code is: {code}.", lang: "en-US", voice: "Google.en-US-Standard-A"},
	{id: "es", tag: "es", sms: "Tu código de verificación de {brand} es: {code}",
		call: "Tu código de verificación de {brand} es: {code}.", lang: "es-ES", voice: "Google.es-ES-Standard-A"},
	{id: "pt-BR", tag: "pt-BR", sms: "Seu código de verificação {brand} é: {code}",
		call: "Seu código de verificação {brand} é: {code}.", lang: "pt-BR", voice: "Google.pt-BR-Standard-C"},
	// "pt" is European Portuguese, as in Twilio Verify (CLDR would read it
	// as Brazilian).
	{id: "pt", tag: "pt-PT", sms: "O seu código de verificação {brand} é: {code}",
		call: "O seu código de verificação {brand} é: {code}.", lang: "pt-PT", voice: "Google.pt-PT-Standard-E"},
	{id: "fr", tag: "fr", sms: "Votre code de vérification {brand} est : {code}",
		call: "Votre code de vérification {brand} est : {code}.", lang: "fr-FR", voice: "Google.fr-FR-Standard-F"},
	{id: "de", tag: "de", sms: "Ihr Bestätigungscode für {brand} lautet: {code}",
		call: "Ihr Bestätigungscode für {brand} lautet: {code}.", lang: "de-DE", voice: "Google.de-DE-Standard-G"},
	{id: "it", tag: "it", sms: "Il tuo codice di verifica per {brand} è: {code}",
		call: "Il tuo codice di verifica per {brand} è: {code}.", lang: "it-IT", voice: "Google.it-IT-Standard-A"},
	{id: "nl", tag: "nl", sms: "Je verificatiecode voor {brand} is: {code}",
		call: "Je verificatiecode voor {brand} is: {code}.", lang: "nl-NL", voice: "Google.nl-NL-Standard-F"},
	{id: "pl", tag: "pl", sms: "Twój kod weryfikacyjny {brand} to: {code}",
		call: "Twój kod weryfikacyjny {brand} to: {code}.", lang: "pl-PL", voice: "Google.pl-PL-Standard-F"},
	{id: "ru", tag: "ru", sms: "Ваш код подтверждения {brand}: {code}",
		call: "Ваш код подтверждения {brand}: {code}.", lang: "ru-RU", voice: "Google.ru-RU-Standard-A"},
	{id: "uk", tag: "uk", sms: "Ваш код підтвердження {brand}: {code}",
		call: "Ваш код підтвердження {brand}: {code}.", lang: "uk-UA", voice: "Google.uk-UA-Standard-A"},
	{id: "tr", tag: "tr", sms: "{brand} doğrulama kodunuz: {code}",
		call: "{brand} doğrulama kodunuz: {code}.", lang: "tr-TR", voice: "Google.tr-TR-Standard-A"},
	{id: "ar", tag: "ar", sms: "رمز التحقق الخاص بك في {brand} هو: {code}",
		call: "رمز التحقق الخاص بك في {brand} هو: {code}.", lang: "ar-XA", voice: "Google.ar-XA-Standard-A"},
	{id: "he", tag: "he", sms: "קוד האימות שלך ב-{brand} הוא: {code}",
		call: "קוד האימות שלך ב-{brand} הוא: {code}.", lang: "he-IL", voice: "Google.he-IL-Standard-A"},
	{id: "hi", tag: "hi", sms: "आपका {brand} सत्यापन कोड है: {code}",
		call: "आपका {brand} सत्यापन कोड है: {code}.", lang: "hi-IN", voice: "Google.hi-IN-Standard-A"},
	{id: "bn", tag: "bn", sms: "আপনার {brand} যাচাইকরণ কোড: {code}",
		call: "আপনার {brand} যাচাইকরণ কোড: {code}.", lang: "bn-IN", voice: "Google.bn-IN-Standard-A"},
	{id: "id", tag: "id", sms: "Kode verifikasi {brand} Anda adalah: {code}",
		call: "Kode verifikasi {brand} Anda adalah: {code}.", lang: "id-ID", voice: "Google.id-ID-Standard-A"},
	{id: "ms", tag: "ms", sms: "Kod pengesahan {brand} anda ialah: {code}",
		call: "Kod pengesahan {brand} anda ialah: {code}.", lang: "ms-MY", voice: "Google.ms-MY-Standard-A"},
	{id: "th", tag: "th", sms: "รหัสยืนยัน {brand} ของคุณคือ: {code}",
		call: "รหัสยืนยัน {brand} ของคุณคือ: {code}", lang: "th-TH", voice: "Google.th-TH-Standard-A"},
	{id: "vi", tag: "vi", sms: "Mã xác minh {brand} của bạn là: {code}",
		call: "Mã xác minh {brand} của bạn là: {code}.", lang: "vi-VN", voice: "Google.vi-VN-Standard-A"},
	{id: "ja", tag: "ja", sms: "{brand}の認証コード: {code}",
		call: "{brand}の認証コードは、{code}です。", lang: "ja-JP", voice: "Google.ja-JP-Standard-B"},
	{id: "ko", tag: "ko", sms: "{brand} 인증 코드: {code}",
		call: "{brand} 인증 코드는 {code}입니다.", lang: "ko-KR", voice: "Google.ko-KR-Standard-A"},
	{id: "zh-CN", tag: "zh-CN", sms: "您的{brand}验证码是：{code}",
		call: "您的{brand}验证码是：{code}。", lang: "cmn-CN", voice: "Google.cmn-CN-Standard-A"},
	{id: "zh-HK", tag: "zh-HK", sms: "你的{brand}驗證碼是：{code}",
		call: "你的{brand}驗證碼是：{code}。", lang: "yue-HK", voice: "Google.yue-HK-Standard-A"},
	// Taiwan: traditional characters, read in Taiwanese Mandarin.
	{id: "zh-TW", tag: "zh-TW", sms: "您的{brand}驗證碼是：{code}",
		call: "您的{brand}驗證碼是：{code}。", lang: "cmn-TW", voice: "Google.cmn-TW-Standard-A"},
	{id: "sv", tag: "sv", sms: "Din verifieringskod för {brand} är: {code}",
		call: "Din verifieringskod för {brand} är: {code}.", lang: "sv-SE", voice: "Google.sv-SE-Standard-F"},
	{id: "da", tag: "da", sms: "Din {brand}-bekræftelseskode er: {code}",
		call: "Din {brand}-bekræftelseskode er: {code}.", lang: "da-DK", voice: "Google.da-DK-Standard-F"},
	{id: "nb", tag: "nb", sms: "Din bekreftelseskode for {brand} er: {code}",
		call: "Din bekreftelseskode for {brand} er: {code}.", lang: "nb-NO", voice: "Google.nb-NO-Standard-F"},
	{id: "fi", tag: "fi", sms: "{brand}: vahvistuskoodisi on {code}",
		call: "{brand}: vahvistuskoodisi on {code}.", lang: "fi-FI", voice: "Google.fi-FI-Standard-B"},
	{id: "cs", tag: "cs", sms: "Váš ověřovací kód pro {brand} je: {code}",
		call: "Váš ověřovací kód pro {brand} je: {code}.", lang: "cs-CZ", voice: "Google.cs-CZ-Standard-B"},
	{id: "ro", tag: "ro", sms: "Codul tău de verificare pentru {brand} este: {code}",
		call: "Codul tău de verificare pentru {brand} este: {code}.", lang: "ro-RO", voice: "Google.ro-RO-Standard-B"},
	{id: "hu", tag: "hu", sms: "Az Ön {brand} ellenőrző kódja: {code}",
		call: "Az Ön {brand} ellenőrző kódja: {code}.", lang: "hu-HU", voice: "Google.hu-HU-Standard-A"},
	{id: "el", tag: "el", sms: "Ο κωδικός επαλήθευσής σας για {brand} είναι: {code}",
		call: "Ο κωδικός επαλήθευσής σας για {brand} είναι: {code}.", lang: "el-GR", voice: "Google.el-GR-Standard-A"},
}
