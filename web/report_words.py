# ruff: noqa: RUF001  # the translations use their languages' own punctuation (full-width commas, Arabic commas)
"""Words of the public report pages (top of the stack), in every language the notices are written in.

The report pages are read by anyone, in their own language; they have few strings, so each language's
text is kept here whole rather than in the notices' gettext catalogues (notifier/locale), whose
language list (:func:`notifier.i18n.available_languages`) this must match; a test checks that it does.
"""

from __future__ import annotations

KEYS = (
    "title", "intro", "urls", "where", "website", "social_media", "messaging", "search_engine", "other",
    "description", "contact", "send", "thanks", "keep", "status_title", "code", "check", "unknown_code",
    "received", "assessed", "removal_requested", "removed", "bad_urls", "too_many", "expired", "language",
)
"""What each language says, in this order."""

_TEXT: dict[str, tuple[str, ...]] = {
    "en": (
        "Report child sexual abuse material", "You can report anonymously. Give only the web address: do not "
        "download, copy or send any images.", "Web addresses (one per line)", "Where did you see it?", "A website",
        "Social media", "A messaging app", "A search engine", "Somewhere else", "Description (optional)",
        "How to contact you (optional)", "Send report", "Thank you. Your report code is:",
        "Keep this code to check the status of your report.", "Status of a report", "Report code", "Check",
        "No report has this code.", "Received", "Assessed", "Removal requested", "Removed",
        "Please check the addresses: each must start with http:// or https://.",
        "Too many reports from your connection; please try again later.", "The form expired; please send it again.",
        "Language",
    ),
    "ar": (
        "الإبلاغ عن مواد الاعتداء الجنسي على الأطفال", "يمكنك الإبلاغ دون الكشف عن هويتك. اكتب عنوان الصفحة فقط: "
        "لا تنزّل أي صور ولا تنسخها ولا ترسلها.", "عناوين الويب (عنوان في كل سطر)", "أين رأيته؟", "موقع ويب",
        "وسائل التواصل الاجتماعي", "تطبيق مراسلة", "محرك بحث", "مكان آخر", "الوصف (اختياري)",
        "وسيلة للتواصل معك (اختياري)", "إرسال البلاغ", "شكرًا لك. رمز بلاغك هو:",
        "احتفظ بهذا الرمز لمتابعة حالة بلاغك.", "حالة البلاغ", "رمز البلاغ", "تحقّق", "لا يوجد بلاغ بهذا الرمز.",
        "تم الاستلام", "تم التقييم", "طُلبت الإزالة", "أزيلت",
        "يرجى التحقق من العناوين: يجب أن يبدأ كل عنوان بـ http:// أو https://.",
        "بلاغات كثيرة جدًا من اتصالك؛ يرجى المحاولة لاحقًا.", "انتهت صلاحية النموذج؛ يرجى إرساله مرة أخرى.", "اللغة",
    ),
    "bn": (
        "শিশু যৌন নির্যাতনের উপাদান রিপোর্ট করুন", "আপনি পরিচয় গোপন রেখে রিপোর্ট করতে পারেন। শুধু ওয়েব ঠিকানা দিন: "
        "কোনো ছবি ডাউনলোড, কপি বা পাঠাবেন না।", "ওয়েব ঠিকানা (প্রতি লাইনে একটি)", "আপনি এটি কোথায় দেখেছেন?",
        "একটি ওয়েবসাইট", "সামাজিক মাধ্যম", "একটি মেসেজিং অ্যাপ", "একটি সার্চ ইঞ্জিন", "অন্য কোথাও",
        "বিবরণ (ঐচ্ছিক)", "আপনার সাথে যোগাযোগের উপায় (ঐচ্ছিক)", "রিপোর্ট পাঠান", "ধন্যবাদ। আপনার রিপোর্ট কোড:",
        "রিপোর্টের অবস্থা দেখতে এই কোডটি রেখে দিন।", "রিপোর্টের অবস্থা", "রিপোর্ট কোড", "দেখুন",
        "এই কোডের কোনো রিপোর্ট নেই।", "গৃহীত", "মূল্যায়িত", "অপসারণের অনুরোধ করা হয়েছে", "অপসারিত",
        "ঠিকানাগুলো দেখুন: প্রতিটি http:// বা https:// দিয়ে শুরু হতে হবে।",
        "আপনার সংযোগ থেকে অনেক বেশি রিপোর্ট এসেছে; পরে আবার চেষ্টা করুন।",
        "ফর্মের মেয়াদ শেষ হয়েছে; আবার পাঠান।", "ভাষা",
    ),
    "cs": (
        "Nahlásit materiál zobrazující sexuální zneužívání dětí", "Hlásit můžete anonymně. Uveďte jen webovou "
        "adresu: žádné obrázky nestahujte, nekopírujte ani neposílejte.", "Webové adresy (jedna na řádek)",
        "Kde jste to viděli?", "Webová stránka", "Sociální sítě", "Aplikace pro zasílání zpráv", "Vyhledávač",
        "Jinde", "Popis (nepovinné)", "Kontakt na vás (nepovinné)", "Odeslat hlášení",
        "Děkujeme. Kód vašeho hlášení je:", "Uschovejte si tento kód, abyste mohli zjistit stav hlášení.",
        "Stav hlášení", "Kód hlášení", "Zjistit", "Žádné hlášení s tímto kódem neexistuje.", "Přijato",
        "Posouzeno", "Požádáno o odstranění", "Odstraněno",
        "Zkontrolujte adresy: každá musí začínat http:// nebo https://.",
        "Z vašeho připojení přišlo příliš mnoho hlášení; zkuste to prosím později.",
        "Platnost formuláře vypršela; odešlete jej prosím znovu.", "Jazyk",
    ),
    "da": (
        "Anmeld materiale med seksuelt misbrug af børn", "Du kan anmelde anonymt. Angiv kun webadressen: du må ikke "
        "downloade, kopiere eller sende billeder.", "Webadresser (én pr. linje)", "Hvor så du det?", "Et websted",
        "Sociale medier", "En beskedapp", "En søgemaskine", "Et andet sted", "Beskrivelse (valgfri)",
        "Hvordan vi kan kontakte dig (valgfri)", "Send anmeldelse", "Tak. Din anmeldelseskode er:",
        "Gem koden, så du kan se status for din anmeldelse.", "Status for en anmeldelse", "Anmeldelseskode", "Se",
        "Ingen anmeldelse har denne kode.", "Modtaget", "Vurderet", "Fjernelse anmodet", "Fjernet",
        "Kontroller adresserne: hver skal begynde med http:// eller https://.",
        "For mange anmeldelser fra din forbindelse; prøv igen senere.", "Formularen er udløbet; send den igen.",
        "Sprog",
    ),
    "de": (
        "Darstellungen sexuellen Kindesmissbrauchs melden", "Sie können anonym melden. Geben Sie nur die Webadresse "
        "an: Laden Sie keine Bilder herunter, kopieren oder versenden Sie keine.", "Webadressen (eine pro Zeile)",
        "Wo haben Sie es gesehen?", "Auf einer Website", "In sozialen Medien", "In einer Messenger-App",
        "In einer Suchmaschine", "Woanders", "Beschreibung (freiwillig)", "Wie wir Sie erreichen (freiwillig)",
        "Meldung senden", "Vielen Dank. Ihr Meldungscode lautet:",
        "Bewahren Sie diesen Code auf, um den Stand Ihrer Meldung abzufragen.", "Stand einer Meldung",
        "Meldungscode", "Abfragen", "Zu diesem Code gibt es keine Meldung.", "Eingegangen", "Geprüft",
        "Entfernung verlangt", "Entfernt",
        "Bitte prüfen Sie die Adressen: Jede muss mit http:// oder https:// beginnen.",
        "Zu viele Meldungen von Ihrem Anschluss; bitte versuchen Sie es später erneut.",
        "Das Formular ist abgelaufen; bitte senden Sie es erneut.", "Sprache",
    ),
    "el": (
        "Αναφορά υλικού σεξουαλικής κακοποίησης παιδιών", "Μπορείτε να κάνετε αναφορά ανώνυμα. Δώστε μόνο τη "
        "διεύθυνση ιστού: μην κατεβάζετε, αντιγράφετε ή στέλνετε εικόνες.", "Διευθύνσεις ιστού (μία ανά γραμμή)",
        "Πού το είδατε;", "Σε ιστότοπο", "Στα μέσα κοινωνικής δικτύωσης", "Σε εφαρμογή μηνυμάτων",
        "Σε μηχανή αναζήτησης", "Αλλού", "Περιγραφή (προαιρετικά)", "Τρόπος επικοινωνίας μαζί σας (προαιρετικά)",
        "Αποστολή αναφοράς", "Ευχαριστούμε. Ο κωδικός της αναφοράς σας είναι:",
        "Κρατήστε αυτόν τον κωδικό για να δείτε την κατάσταση της αναφοράς σας.", "Κατάσταση αναφοράς",
        "Κωδικός αναφοράς", "Έλεγχος", "Δεν υπάρχει αναφορά με αυτόν τον κωδικό.", "Παραλήφθηκε", "Αξιολογήθηκε",
        "Ζητήθηκε αφαίρεση", "Αφαιρέθηκε",
        "Ελέγξτε τις διευθύνσεις: καθεμία πρέπει να αρχίζει με http:// ή https://.",
        "Πάρα πολλές αναφορές από τη σύνδεσή σας· δοκιμάστε ξανά αργότερα.",
        "Η φόρμα έληξε· στείλτε την ξανά.", "Γλώσσα",
    ),
    "es": (
        "Denunciar material de abuso sexual infantil", "Puede denunciar de forma anónima. Indique solo la dirección "
        "web: no descargue, copie ni envíe imágenes.", "Direcciones web (una por línea)", "¿Dónde lo vio?",
        "Un sitio web", "Redes sociales", "Una aplicación de mensajería", "Un buscador", "En otro lugar",
        "Descripción (opcional)", "Cómo contactarle (opcional)", "Enviar denuncia",
        "Gracias. El código de su denuncia es:", "Guarde este código para consultar el estado de su denuncia.",
        "Estado de una denuncia", "Código de denuncia", "Consultar", "No hay ninguna denuncia con este código.",
        "Recibida", "Evaluada", "Retirada solicitada", "Retirado",
        "Revise las direcciones: cada una debe empezar por http:// o https://.",
        "Demasiadas denuncias desde su conexión; inténtelo de nuevo más tarde.",
        "El formulario ha caducado; envíelo de nuevo.", "Idioma",
    ),
    "fa": (
        "گزارش محتوای سوءاستفاده جنسی از کودکان", "می‌توانید به‌صورت ناشناس گزارش دهید. فقط نشانی وب را بنویسید: "
        "هیچ تصویری را دانلود، کپی یا ارسال نکنید.", "نشانی‌های وب (در هر خط یکی)", "آن را کجا دیدید؟", "یک وب‌سایت",
        "شبکه‌های اجتماعی", "یک پیام‌رسان", "یک موتور جستجو", "جای دیگر", "توضیحات (اختیاری)",
        "راه تماس با شما (اختیاری)", "ارسال گزارش", "سپاسگزاریم. کد گزارش شما:",
        "این کد را نگه دارید تا وضعیت گزارش خود را ببینید.", "وضعیت گزارش", "کد گزارش", "بررسی",
        "گزارشی با این کد وجود ندارد.", "دریافت شد", "ارزیابی شد", "درخواست حذف داده شد", "حذف شد",
        "نشانی‌ها را بررسی کنید: هر نشانی باید با http:// یا https:// آغاز شود.",
        "گزارش‌های بسیار زیادی از اتصال شما؛ لطفاً بعداً دوباره تلاش کنید.",
        "فرم منقضی شده است؛ لطفاً دوباره ارسال کنید.", "زبان",
    ),
    "fi": (
        "Ilmoita lasten seksuaalista hyväksikäyttöä esittävästä materiaalista", "Voit ilmoittaa nimettömänä. Anna "
        "vain verkko-osoite: älä lataa, kopioi tai lähetä kuvia.", "Verkko-osoitteet (yksi kullekin riville)",
        "Missä näit sen?", "Verkkosivustolla", "Sosiaalisessa mediassa", "Viestisovelluksessa", "Hakukoneessa",
        "Muualla", "Kuvaus (vapaaehtoinen)", "Yhteystietosi (vapaaehtoinen)", "Lähetä ilmoitus",
        "Kiitos. Ilmoituksesi koodi on:", "Säilytä tämä koodi, niin voit tarkistaa ilmoituksesi tilan.",
        "Ilmoituksen tila", "Ilmoituksen koodi", "Tarkista", "Tällä koodilla ei ole ilmoitusta.", "Vastaanotettu",
        "Arvioitu", "Poistoa pyydetty", "Poistettu",
        "Tarkista osoitteet: jokaisen on alettava http:// tai https://.",
        "Liikaa ilmoituksia yhteydestäsi; yritä myöhemmin uudelleen.", "Lomake vanheni; lähetä se uudelleen.",
        "Kieli",
    ),
    "fil": (
        "Mag-ulat ng materyal ng sekswal na pang-aabuso sa bata", "Maaari kang mag-ulat nang hindi nagpapakilala. "
        "Ibigay lamang ang web address: huwag mag-download, kumopya o magpadala ng anumang larawan.",
        "Mga web address (isa bawat linya)", "Saan mo ito nakita?", "Sa isang website", "Sa social media",
        "Sa isang messaging app", "Sa isang search engine", "Sa ibang lugar", "Paglalarawan (opsyonal)",
        "Paano ka makokontak (opsyonal)", "Ipadala ang ulat", "Salamat. Ang code ng iyong ulat ay:",
        "Itago ang code na ito upang malaman ang katayuan ng iyong ulat.", "Katayuan ng ulat", "Code ng ulat",
        "Tingnan", "Walang ulat na may ganitong code.", "Natanggap", "Nasuri", "Hiniling ang pag-alis", "Naalis na",
        "Pakisuri ang mga address: bawat isa ay dapat magsimula sa http:// o https://.",
        "Masyadong maraming ulat mula sa iyong koneksyon; subukan muli mamaya.",
        "Nag-expire ang form; pakipadala itong muli.", "Wika",
    ),
    "fr": (
        "Signaler des contenus d'abus sexuels sur enfants", "Vous pouvez signaler de façon anonyme. Indiquez "
        "seulement l'adresse web : ne téléchargez, ne copiez et n'envoyez aucune image.",
        "Adresses web (une par ligne)", "Où l'avez-vous vu ?", "Un site web", "Les réseaux sociaux",
        "Une messagerie", "Un moteur de recherche", "Ailleurs", "Description (facultatif)",
        "Comment vous joindre (facultatif)", "Envoyer le signalement", "Merci. Le code de votre signalement est :",
        "Conservez ce code pour suivre l'état de votre signalement.", "État d'un signalement",
        "Code du signalement", "Consulter", "Aucun signalement ne porte ce code.", "Reçu", "Évalué",
        "Retrait demandé", "Retiré", "Vérifiez les adresses : chacune doit commencer par http:// ou https://.",
        "Trop de signalements depuis votre connexion ; réessayez plus tard.",
        "Le formulaire a expiré ; veuillez le renvoyer.", "Langue",
    ),
    "he": (
        "דיווח על תכני התעללות מינית בילדים", "אפשר לדווח באופן אנונימי. יש לציין רק את כתובת האתר: אין להוריד, "
        "להעתיק או לשלוח תמונות.", "כתובות אינטרנט (אחת בכל שורה)", "איפה ראית את זה?", "באתר אינטרנט",
        "ברשתות החברתיות", "באפליקציית מסרים", "במנוע חיפוש", "במקום אחר", "תיאור (לא חובה)",
        "דרך ליצור איתך קשר (לא חובה)", "שליחת הדיווח", "תודה. קוד הדיווח שלך:",
        "שמרו את הקוד כדי לבדוק את מצב הדיווח.", "מצב דיווח", "קוד דיווח", "בדיקה", "אין דיווח עם הקוד הזה.",
        "התקבל", "נבדק", "התבקשה הסרה", "הוסר", "נא לבדוק את הכתובות: כל אחת חייבת להתחיל ב-http:// או https://.",
        "יותר מדי דיווחים מהחיבור שלך; נא לנסות שוב מאוחר יותר.", "תוקף הטופס פג; נא לשלוח אותו שוב.", "שפה",
    ),
    "hi": (
        "बाल यौन शोषण सामग्री की रिपोर्ट करें", "आप गुमनाम रूप से रिपोर्ट कर सकते हैं। केवल वेब पता दें: कोई भी चित्र "
        "डाउनलोड, कॉपी या भेजें नहीं।", "वेब पते (हर पंक्ति में एक)", "आपने इसे कहाँ देखा?", "किसी वेबसाइट पर",
        "सोशल मीडिया पर", "किसी मैसेजिंग ऐप में", "किसी सर्च इंजन में", "कहीं और", "विवरण (वैकल्पिक)",
        "आपसे संपर्क का तरीका (वैकल्पिक)", "रिपोर्ट भेजें", "धन्यवाद। आपकी रिपोर्ट का कोड है:",
        "अपनी रिपोर्ट की स्थिति जानने के लिए यह कोड संभालकर रखें।", "रिपोर्ट की स्थिति", "रिपोर्ट कोड", "देखें",
        "इस कोड की कोई रिपोर्ट नहीं है।", "प्राप्त", "जाँची गई", "हटाने का अनुरोध किया गया", "हटा दिया गया",
        "कृपया पते जाँचें: हर पता http:// या https:// से शुरू होना चाहिए।",
        "आपके कनेक्शन से बहुत अधिक रिपोर्टें आईं; कृपया बाद में फिर कोशिश करें।",
        "फ़ॉर्म की समय-सीमा समाप्त हो गई; कृपया फिर से भेजें।", "भाषा",
    ),
    "hu": (
        "Gyermekek szexuális bántalmazását ábrázoló anyag bejelentése", "Névtelenül is bejelentheti. Csak a "
        "webcímet adja meg: ne töltsön le, ne másoljon és ne küldjön képeket.", "Webcímek (soronként egy)",
        "Hol látta?", "Egy weboldalon", "Közösségi médiában", "Üzenetküldő alkalmazásban", "Keresőben",
        "Máshol", "Leírás (nem kötelező)", "Elérhetősége (nem kötelező)", "Bejelentés elküldése",
        "Köszönjük. A bejelentés kódja:", "Őrizze meg ezt a kódot, hogy megnézhesse a bejelentés állapotát.",
        "Bejelentés állapota", "Bejelentés kódja", "Megnézem", "Ezzel a kóddal nincs bejelentés.", "Beérkezett",
        "Értékelve", "Eltávolítás kérve", "Eltávolítva",
        "Ellenőrizze a címeket: mindegyiknek http:// vagy https:// előtaggal kell kezdődnie.",
        "Túl sok bejelentés érkezett a kapcsolatáról; próbálja újra később.",
        "Az űrlap lejárt; kérjük, küldje el újra.", "Nyelv",
    ),
    "id": (
        "Laporkan materi pelecehan seksual anak", "Anda dapat melapor secara anonim. Cukup berikan alamat web: "
        "jangan mengunduh, menyalin, atau mengirim gambar apa pun.", "Alamat web (satu per baris)",
        "Di mana Anda melihatnya?", "Situs web", "Media sosial", "Aplikasi perpesanan", "Mesin pencari",
        "Tempat lain", "Keterangan (opsional)", "Cara menghubungi Anda (opsional)", "Kirim laporan",
        "Terima kasih. Kode laporan Anda:", "Simpan kode ini untuk memeriksa status laporan Anda.",
        "Status laporan", "Kode laporan", "Periksa", "Tidak ada laporan dengan kode ini.", "Diterima", "Dinilai",
        "Penghapusan diminta", "Dihapus", "Periksa alamatnya: setiap alamat harus diawali http:// atau https://.",
        "Terlalu banyak laporan dari koneksi Anda; coba lagi nanti.", "Formulir kedaluwarsa; kirim ulang.",
        "Bahasa",
    ),
    "it": (
        "Segnala materiale di abuso sessuale su minori", "Puoi segnalare in forma anonima. Indica solo l'indirizzo "
        "web: non scaricare, copiare né inviare immagini.", "Indirizzi web (uno per riga)", "Dove l'hai visto?",
        "Un sito web", "Social media", "Un'app di messaggistica", "Un motore di ricerca", "Altrove",
        "Descrizione (facoltativa)", "Come contattarti (facoltativo)", "Invia segnalazione",
        "Grazie. Il codice della tua segnalazione è:", "Conserva questo codice per verificare lo stato della "
        "segnalazione.", "Stato di una segnalazione", "Codice della segnalazione", "Verifica",
        "Nessuna segnalazione ha questo codice.", "Ricevuta", "Valutata", "Rimozione richiesta", "Rimosso",
        "Controlla gli indirizzi: ciascuno deve iniziare con http:// o https://.",
        "Troppe segnalazioni dalla tua connessione; riprova più tardi.", "Il modulo è scaduto; invialo di nuovo.",
        "Lingua",
    ),
    "ja": (
        "児童性的虐待コンテンツの通報", "匿名で通報できます。ウェブアドレスだけを入力してください。画像をダウンロード、"
        "コピー、送信しないでください。", "ウェブアドレス（1行に1つ）", "どこで見ましたか？", "ウェブサイト",
        "ソーシャルメディア", "メッセージアプリ", "検索エンジン", "その他", "説明（任意）", "連絡先（任意）",
        "通報する",
        "ありがとうございます。通報コード：", "通報の状況を確認するため、このコードを保管してください。", "通報の状況",
        "通報コード", "確認", "このコードの通報はありません。", "受付済み", "評価済み", "削除要請済み", "削除済み",
        "アドレスを確認してください。それぞれ http:// または https:// で始まる必要があります。",
        "お使いの接続からの通報が多すぎます。しばらくしてから再度お試しください。",
        "フォームの有効期限が切れました。もう一度送信してください。", "言語",
    ),
    "ko": (
        "아동 성착취물 신고", "익명으로 신고할 수 있습니다. 웹 주소만 입력하세요. 이미지를 내려받거나 복사하거나 "
        "보내지 마세요.", "웹 주소 (한 줄에 하나)", "어디에서 보셨나요?", "웹사이트", "소셜 미디어", "메신저 앱",
        "검색 엔진", "기타", "설명 (선택)", "연락 방법 (선택)", "신고하기", "감사합니다. 신고 코드:",
        "신고 처리 상태를 확인하려면 이 코드를 보관하세요.", "신고 상태", "신고 코드", "확인",
        "이 코드의 신고가 없습니다.", "접수됨", "검토됨", "삭제 요청됨", "삭제됨",
        "주소를 확인하세요. 각 주소는 http:// 또는 https://로 시작해야 합니다.",
        "귀하의 연결에서 신고가 너무 많습니다. 나중에 다시 시도하세요.", "양식이 만료되었습니다. 다시 보내 주세요.",
        "언어",
    ),
    "ms": (
        "Laporkan bahan penderaan seksual kanak-kanak", "Anda boleh melapor tanpa nama. Berikan alamat web sahaja: "
        "jangan muat turun, salin atau hantar sebarang imej.", "Alamat web (satu setiap baris)",
        "Di manakah anda melihatnya?", "Laman web", "Media sosial", "Aplikasi pemesejan", "Enjin carian",
        "Tempat lain", "Keterangan (pilihan)", "Cara menghubungi anda (pilihan)", "Hantar laporan",
        "Terima kasih. Kod laporan anda ialah:", "Simpan kod ini untuk menyemak status laporan anda.",
        "Status laporan", "Kod laporan", "Semak", "Tiada laporan dengan kod ini.", "Diterima", "Dinilai",
        "Pengalihan diminta", "Dialih keluar", "Sila semak alamat: setiap satu mesti bermula dengan http:// atau https://.",
        "Terlalu banyak laporan dari sambungan anda; sila cuba lagi kemudian.",
        "Borang telah tamat tempoh; sila hantar semula.", "Bahasa",
    ),
    "nb": (
        "Meld fra om materiale med seksuelle overgrep mot barn", "Du kan melde fra anonymt. Oppgi bare nettadressen: "
        "ikke last ned, kopier eller send bilder.", "Nettadresser (én per linje)", "Hvor så du det?",
        "Et nettsted", "Sosiale medier", "En meldingsapp", "En søkemotor", "Et annet sted",
        "Beskrivelse (valgfritt)", "Hvordan vi kan kontakte deg (valgfritt)", "Send melding",
        "Takk. Koden for meldingen din er:", "Ta vare på koden for å se status for meldingen din.",
        "Status for en melding", "Meldingskode", "Se", "Ingen melding har denne koden.", "Mottatt", "Vurdert",
        "Fjerning bedt om", "Fjernet", "Kontroller adressene: hver må begynne med http:// eller https://.",
        "For mange meldinger fra tilkoblingen din; prøv igjen senere.", "Skjemaet er utløpt; send det på nytt.",
        "Språk",
    ),
    "nl": (
        "Materiaal van seksueel kindermisbruik melden", "U kunt anoniem melden. Geef alleen het webadres: download, "
        "kopieer of verstuur geen afbeeldingen.", "Webadressen (één per regel)", "Waar heeft u het gezien?",
        "Een website", "Sociale media", "Een berichtenapp", "Een zoekmachine", "Ergens anders",
        "Beschrijving (optioneel)", "Hoe we u kunnen bereiken (optioneel)", "Melding versturen",
        "Dank u. De code van uw melding is:", "Bewaar deze code om de status van uw melding te bekijken.",
        "Status van een melding", "Meldingscode", "Bekijken", "Er is geen melding met deze code.", "Ontvangen",
        "Beoordeeld", "Verwijdering gevraagd", "Verwijderd",
        "Controleer de adressen: elk moet beginnen met http:// of https://.",
        "Te veel meldingen vanaf uw verbinding; probeer het later opnieuw.",
        "Het formulier is verlopen; verstuur het opnieuw.", "Taal",
    ),
    "pl": (
        "Zgłoś materiały przedstawiające seksualne wykorzystywanie dzieci", "Możesz zgłosić anonimowo. Podaj tylko "
        "adres strony: nie pobieraj, nie kopiuj i nie wysyłaj żadnych obrazów.", "Adresy stron (jeden w wierszu)",
        "Gdzie to widziałeś?", "Na stronie internetowej", "W mediach społecznościowych", "W komunikatorze",
        "W wyszukiwarce", "Gdzie indziej", "Opis (opcjonalnie)", "Jak się z tobą skontaktować (opcjonalnie)",
        "Wyślij zgłoszenie", "Dziękujemy. Kod twojego zgłoszenia to:",
        "Zachowaj ten kod, aby sprawdzić status zgłoszenia.", "Status zgłoszenia", "Kod zgłoszenia", "Sprawdź",
        "Nie ma zgłoszenia o tym kodzie.", "Przyjęte", "Ocenione", "Zażądano usunięcia", "Usunięte",
        "Sprawdź adresy: każdy musi zaczynać się od http:// lub https://.",
        "Zbyt wiele zgłoszeń z twojego połączenia; spróbuj ponownie później.",
        "Formularz wygasł; wyślij go ponownie.", "Język",
    ),
    "pt": (
        "Denunciar material de abuso sexual infantil", "Pode denunciar de forma anónima. Indique apenas o endereço "
        "web: não descarregue, copie nem envie imagens.", "Endereços web (um por linha)", "Onde o viu?",
        "Num site", "Nas redes sociais", "Numa aplicação de mensagens", "Num motor de pesquisa", "Noutro lugar",
        "Descrição (opcional)", "Como o contactar (opcional)", "Enviar denúncia",
        "Obrigado. O código da sua denúncia é:", "Guarde este código para consultar o estado da sua denúncia.",
        "Estado de uma denúncia", "Código da denúncia", "Consultar", "Não existe nenhuma denúncia com este código.",
        "Recebida", "Avaliada", "Remoção pedida", "Removido",
        "Verifique os endereços: cada um deve começar por http:// ou https://.",
        "Demasiadas denúncias a partir da sua ligação; tente novamente mais tarde.",
        "O formulário expirou; envie-o novamente.", "Idioma",
    ),
    "ro": (
        "Raportați materiale cu abuz sexual asupra copiilor", "Puteți raporta anonim. Indicați doar adresa web: nu "
        "descărcați, nu copiați și nu trimiteți imagini.", "Adrese web (câte una pe rând)", "Unde ați văzut?",
        "Pe un site web", "Pe rețelele sociale", "Într-o aplicație de mesagerie", "Într-un motor de căutare",
        "În altă parte", "Descriere (opțional)", "Cum vă putem contacta (opțional)", "Trimiteți raportul",
        "Vă mulțumim. Codul raportului dumneavoastră este:",
        "Păstrați acest cod pentru a verifica stadiul raportului.", "Stadiul unui raport", "Codul raportului",
        "Verificați", "Nu există niciun raport cu acest cod.", "Primit", "Evaluat", "Eliminare solicitată",
        "Eliminat", "Verificați adresele: fiecare trebuie să înceapă cu http:// sau https://.",
        "Prea multe rapoarte de la conexiunea dumneavoastră; încercați mai târziu.",
        "Formularul a expirat; trimiteți-l din nou.", "Limba",
    ),
    "ru": (
        "Сообщить о материалах сексуального насилия над детьми", "Сообщить можно анонимно. Укажите только адрес "
        "страницы: не скачивайте, не копируйте и не пересылайте изображения.", "Адреса страниц (по одному в строке)",
        "Где вы это видели?", "На сайте", "В социальных сетях", "В мессенджере", "В поисковой системе",
        "В другом месте", "Описание (необязательно)", "Как с вами связаться (необязательно)",
        "Отправить сообщение", "Спасибо. Код вашего сообщения:",
        "Сохраните этот код, чтобы узнать статус вашего сообщения.", "Статус сообщения", "Код сообщения",
        "Проверить", "Сообщения с таким кодом нет.", "Получено", "Рассмотрено", "Запрошено удаление", "Удалено",
        "Проверьте адреса: каждый должен начинаться с http:// или https://.",
        "Слишком много сообщений с вашего подключения; попробуйте позже.",
        "Срок действия формы истёк; отправьте её ещё раз.", "Язык",
    ),
    "sv": (
        "Anmäl material med sexuella övergrepp mot barn", "Du kan anmäla anonymt. Ange bara webbadressen: ladda inte "
        "ned, kopiera eller skicka några bilder.", "Webbadresser (en per rad)", "Var såg du det?", "På en webbplats",
        "I sociala medier", "I en meddelandeapp", "I en sökmotor", "Någon annanstans", "Beskrivning (valfritt)",
        "Hur vi når dig (valfritt)", "Skicka anmälan", "Tack. Koden för din anmälan är:",
        "Spara koden så att du kan se status för din anmälan.", "Status för en anmälan", "Anmälningskod", "Visa",
        "Ingen anmälan har den här koden.", "Mottagen", "Bedömd", "Borttagning begärd", "Borttaget",
        "Kontrollera adresserna: varje adress måste börja med http:// eller https://.",
        "För många anmälningar från din anslutning; försök igen senare.",
        "Formuläret har gått ut; skicka det igen.", "Språk",
    ),
    "th": (
        "แจ้งเนื้อหาการล่วงละเมิดทางเพศเด็ก", "คุณแจ้งได้โดยไม่ต้องเปิดเผยตัวตน ให้เฉพาะที่อยู่เว็บ: "
        "อย่าดาวน์โหลด คัดลอก หรือส่งรูปภาพใด ๆ", "ที่อยู่เว็บ (บรรทัดละหนึ่งรายการ)", "คุณเห็นที่ไหน?", "เว็บไซต์",
        "โซเชียลมีเดีย", "แอปรับส่งข้อความ", "เครื่องมือค้นหา", "ที่อื่น", "รายละเอียด (ไม่บังคับ)",
        "ช่องทางติดต่อคุณ (ไม่บังคับ)", "ส่งการแจ้ง", "ขอบคุณ รหัสการแจ้งของคุณคือ:",
        "เก็บรหัสนี้ไว้เพื่อตรวจสอบสถานะการแจ้งของคุณ", "สถานะการแจ้ง", "รหัสการแจ้ง", "ตรวจสอบ",
        "ไม่มีการแจ้งที่ใช้รหัสนี้", "ได้รับแล้ว", "ประเมินแล้ว", "ขอให้ลบแล้ว", "ลบแล้ว",
        "โปรดตรวจสอบที่อยู่: แต่ละรายการต้องขึ้นต้นด้วย http:// หรือ https://",
        "มีการแจ้งจากการเชื่อมต่อของคุณมากเกินไป โปรดลองใหม่ภายหลัง", "แบบฟอร์มหมดอายุ โปรดส่งอีกครั้ง", "ภาษา",
    ),
    "tr": (
        "Çocuk cinsel istismarı içeriğini bildirin", "Kimliğinizi belirtmeden bildirebilirsiniz. Yalnızca web "
        "adresini verin: hiçbir görseli indirmeyin, kopyalamayın veya göndermeyin.",
        "Web adresleri (her satıra bir tane)", "Nerede gördünüz?", "Bir web sitesinde", "Sosyal medyada",
        "Bir mesajlaşma uygulamasında", "Bir arama motorunda", "Başka bir yerde", "Açıklama (isteğe bağlı)",
        "Size nasıl ulaşabiliriz (isteğe bağlı)", "Bildirimi gönder", "Teşekkürler. Bildirim kodunuz:",
        "Bildiriminizin durumunu görmek için bu kodu saklayın.", "Bildirim durumu", "Bildirim kodu", "Sorgula",
        "Bu koda ait bildirim yok.", "Alındı", "Değerlendirildi", "Kaldırılması istendi", "Kaldırıldı",
        "Adresleri kontrol edin: her biri http:// veya https:// ile başlamalıdır.",
        "Bağlantınızdan çok fazla bildirim geldi; lütfen daha sonra tekrar deneyin.",
        "Formun süresi doldu; lütfen yeniden gönderin.", "Dil",
    ),
    "uk": (
        "Повідомити про матеріали сексуального насильства над дітьми", "Повідомити можна анонімно. Вкажіть лише "
        "адресу сторінки: не завантажуйте, не копіюйте й не пересилайте зображення.",
        "Адреси сторінок (по одній у рядку)", "Де ви це бачили?", "На вебсайті", "У соціальних мережах",
        "У месенджері", "У пошуковій системі", "Деінде", "Опис (необов'язково)",
        "Як з вами зв'язатися (необов'язково)", "Надіслати повідомлення", "Дякуємо. Код вашого повідомлення:",
        "Збережіть цей код, щоб дізнатися стан вашого повідомлення.", "Стан повідомлення", "Код повідомлення",
        "Перевірити", "Повідомлення з таким кодом немає.", "Отримано", "Розглянуто", "Запитано видалення",
        "Видалено", "Перевірте адреси: кожна має починатися з http:// або https://.",
        "Забагато повідомлень з вашого з'єднання; спробуйте пізніше.",
        "Термін дії форми минув; надішліть її ще раз.", "Мова",
    ),
    "vi": (
        "Báo cáo tài liệu xâm hại tình dục trẻ em", "Bạn có thể báo cáo ẩn danh. Chỉ cung cấp địa chỉ web: không "
        "tải xuống, sao chép hoặc gửi bất kỳ hình ảnh nào.", "Địa chỉ web (mỗi dòng một địa chỉ)",
        "Bạn đã thấy nó ở đâu?", "Một trang web", "Mạng xã hội", "Ứng dụng nhắn tin", "Công cụ tìm kiếm",
        "Nơi khác", "Mô tả (không bắt buộc)", "Cách liên hệ với bạn (không bắt buộc)", "Gửi báo cáo",
        "Cảm ơn bạn. Mã báo cáo của bạn là:", "Hãy giữ mã này để kiểm tra tình trạng báo cáo của bạn.",
        "Tình trạng báo cáo", "Mã báo cáo", "Kiểm tra", "Không có báo cáo nào có mã này.", "Đã nhận",
        "Đã đánh giá", "Đã yêu cầu gỡ bỏ", "Đã gỡ bỏ",
        "Vui lòng kiểm tra địa chỉ: mỗi địa chỉ phải bắt đầu bằng http:// hoặc https://.",
        "Có quá nhiều báo cáo từ kết nối của bạn; vui lòng thử lại sau.",
        "Biểu mẫu đã hết hạn; vui lòng gửi lại.", "Ngôn ngữ",
    ),
    "zh_Hans": (
        "举报儿童性虐待材料", "您可以匿名举报。只需提供网址：请勿下载、复制或发送任何图片。", "网址（每行一个）",
        "您在哪里看到的？", "网站", "社交媒体", "即时通讯应用", "搜索引擎", "其他地方", "描述（选填）",
        "联系方式（选填）", "提交举报", "谢谢。您的举报编码是：", "请保存此编码，以便查询举报的处理状态。",
        "举报状态", "举报编码", "查询", "没有与此编码对应的举报。", "已收到", "已评估", "已要求删除", "已删除",
        "请检查网址：每个网址都必须以 http:// 或 https:// 开头。", "来自您的网络连接的举报过多，请稍后再试。",
        "表单已过期，请重新提交。", "语言",
    ),
    "zh_Hant": (
        "檢舉兒童性虐待內容", "您可以匿名檢舉。只需提供網址：請勿下載、複製或傳送任何圖片。", "網址（每行一個）",
        "您在哪裡看到的？", "網站", "社群媒體", "通訊軟體", "搜尋引擎", "其他地方", "說明（選填）",
        "聯絡方式（選填）", "送出檢舉", "謝謝。您的檢舉代碼是：", "請保存此代碼，以便查詢檢舉的處理狀態。",
        "檢舉狀態", "檢舉代碼", "查詢", "沒有與此代碼對應的檢舉。", "已收到", "已評估", "已要求移除", "已移除",
        "請檢查網址：每個網址都必須以 http:// 或 https:// 開頭。", "來自您網路連線的檢舉過多，請稍後再試。",
        "表單已過期，請重新送出。", "語言",
    ),
}

RIGHT_TO_LEFT = frozenset({"ar", "fa", "he"})
LANGUAGES: tuple[str, ...] = tuple(_TEXT)
_ALIASES = {"zh": "zh_Hans", "zh-cn": "zh_Hans", "zh-sg": "zh_Hans", "zh-hans": "zh_Hans", "zh-tw": "zh_Hant",
            "zh-hk": "zh_Hant", "zh-mo": "zh_Hant", "zh-hant": "zh_Hant", "no": "nb", "nn": "nb", "tl": "fil"}
"""Language tags browsers send that name a catalogue under another name."""
_NAMES = {
    "en": "English", "ar": "العربية", "bn": "বাংলা", "cs": "Čeština", "da": "Dansk", "de": "Deutsch",
    "el": "Ελληνικά", "es": "Español", "fa": "فارسی", "fi": "Suomi", "fil": "Filipino", "fr": "Français",
    "he": "עברית", "hi": "हिन्दी", "hu": "Magyar", "id": "Bahasa Indonesia", "it": "Italiano", "ja": "日本語",
    "ko": "한국어", "ms": "Bahasa Melayu", "nb": "Norsk bokmål", "nl": "Nederlands", "pl": "Polski",
    "pt": "Português", "ro": "Română", "ru": "Русский", "sv": "Svenska", "th": "ไทย", "tr": "Türkçe",
    "uk": "Українська", "vi": "Tiếng Việt", "zh_Hans": "简体中文", "zh_Hant": "繁體中文",
}
"""Each language's name in itself, for the language menu."""


def _known(tag: str) -> str | None:
    tag = tag.strip().replace("_", "-").lower()
    if not tag:
        return None
    by_lower = {lang.lower().replace("_", "-"): lang for lang in LANGUAGES}
    for candidate in (tag, tag.split("-")[0]):
        if candidate in _ALIASES:
            return _ALIASES[candidate]
        if candidate in by_lower:
            return by_lower[candidate]
    return None


def pick_language(requested: str | None, accept_language: str | None) -> str:
    """The language of a report page: the one asked for (``lang``), else the browser's best, else English."""
    if requested:
        chosen = _known(requested)
        if chosen is not None:
            return chosen
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag))
    for quality, _, tag in sorted(ranked):
        chosen = _known(tag)
        if chosen is not None and quality < 0:
            return chosen
    return "en"


def words(language: str) -> dict[str, str]:
    """Every string of the report pages in ``language`` (English for one it does not know)."""
    return dict(zip(KEYS, _TEXT.get(language, _TEXT["en"]), strict=True))


def language_menu() -> list[tuple[str, str]]:
    """``(language, its own name)`` of every language, for the page's language menu."""
    return [(lang, _NAMES.get(lang, lang)) for lang in LANGUAGES]
