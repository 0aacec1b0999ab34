# ruff: noqa: RUF001, E501  # the translations use their own punctuation; CJK text counts double width
"""Words of the survivor page (top of the stack), in every language the public report pages speak.

The page is read by the person whose pictures they are, in their own language; its few strings are
kept here whole, like the report pages' (:mod:`web.report_words`, whose language list this must
match; a test checks that it does).
"""

from __future__ import annotations

KEYS = ("title", "intro", "after", "pick", "note", "send", "file", "working", "ready", "sending", "sent", "failed",
        "unreadable", "nocrypto", "language")
"""What each language says, in this order."""

_TEXT: dict[str, tuple[str, ...]] = {
    "en": (
        "Find copies of your own pictures",
        "Pick the pictures or videos of you that you want found. Your device computes fingerprints (hashes) of them "
        "here in this page; the files themselves never leave your device. Only the fingerprints and the note you "
        "choose to write are sent.",
        "Analysts compare the fingerprints with what orbweaver finds on the web; a person always looks before "
        "anything is done. Keep your reference code to ask about it.",
        "Your pictures or videos", "A note (optional)", "Send the fingerprints", "File",
        "Computing fingerprints on this device…", "Fingerprints ready. Nothing has been sent yet.",
        "Sending the fingerprints…", "Sent. Your reference code:", "Sending failed:", "could not be read here",
        "This browser cannot compute SHA-256 here (the page needs HTTPS).", "Language",
    ),
    "fr": (
        "Retrouver les copies de vos propres images",
        "Choisissez les images ou vidéos de vous que vous voulez faire retrouver. Votre appareil en calcule des "
        "empreintes (hachages) ici, dans cette page ; les fichiers eux-mêmes ne quittent jamais votre appareil. "
        "Seules les empreintes et la note que vous choisissez d'écrire sont envoyées.",
        "Des analystes comparent les empreintes avec ce qu'orbweaver trouve sur le web ; une personne regarde "
        "toujours avant toute action. Gardez votre code de référence pour vous renseigner.",
        "Vos images ou vidéos", "Une note (facultative)", "Envoyer les empreintes", "Fichier",
        "Calcul des empreintes sur cet appareil…", "Empreintes prêtes. Rien n'a encore été envoyé.",
        "Envoi des empreintes…", "Envoyé. Votre code de référence :", "L'envoi a échoué :", "illisible ici",
        "Ce navigateur ne peut pas calculer SHA-256 ici (la page doit être servie en HTTPS).", "Langue",
    ),
    "ar": (
        "ابحث عن نسخ من صورك الخاصة",
        "اختر الصور أو مقاطع الفيديو الخاصة بك التي تريد العثور عليها. يحسب جهازك بصماتها (التجزئات) هنا في هذه "
        "الصفحة؛ ولا تغادر الملفات نفسها جهازك أبدًا. تُرسل البصمات والملاحظة التي تختار كتابتها فقط.",
        "يقارن المحللون البصمات بما يجده orbweaver على الويب؛ ينظر شخص دائمًا قبل اتخاذ أي إجراء. احتفظ برمزك "
        "المرجعي للسؤال عنه.",
        "صورك أو مقاطع الفيديو الخاصة بك", "ملاحظة (اختيارية)", "أرسل البصمات", "الملف",
        "جارٍ حساب البصمات على هذا الجهاز…", "البصمات جاهزة. لم يُرسل شيء بعد.", "جارٍ إرسال البصمات…",
        "أُرسلت. رمزك المرجعي:", "فشل الإرسال:", "تعذّرت قراءته هنا",
        "لا يستطيع هذا المتصفح حساب SHA-256 هنا (تحتاج الصفحة إلى HTTPS).", "اللغة",
    ),
    "bn": (
        "আপনার নিজের ছবির কপি খুঁজুন",
        "আপনার যে ছবি বা ভিডিওগুলো খুঁজে পেতে চান সেগুলো বেছে নিন। আপনার ডিভাইস এই পৃষ্ঠাতেই সেগুলোর ফিঙ্গারপ্রিন্ট "
        "(হ্যাশ) গণনা করে; ফাইলগুলো কখনো আপনার ডিভাইস ছেড়ে যায় না। শুধু ফিঙ্গারপ্রিন্ট আর আপনি যে নোট লিখতে চান "
        "তা পাঠানো হয়।",
        "বিশ্লেষকরা ফিঙ্গারপ্রিন্টগুলো orbweaver ওয়েবে যা খুঁজে পায় তার সাথে মেলান; কিছু করার আগে সবসময় একজন মানুষ "
        "দেখেন। এ বিষয়ে জানতে আপনার রেফারেন্স কোড রেখে দিন।",
        "আপনার ছবি বা ভিডিও", "একটি নোট (ঐচ্ছিক)", "ফিঙ্গারপ্রিন্ট পাঠান", "ফাইল",
        "এই ডিভাইসে ফিঙ্গারপ্রিন্ট গণনা হচ্ছে…", "ফিঙ্গারপ্রিন্ট প্রস্তুত। এখনও কিছু পাঠানো হয়নি।",
        "ফিঙ্গারপ্রিন্ট পাঠানো হচ্ছে…", "পাঠানো হয়েছে। আপনার রেফারেন্স কোড:", "পাঠানো ব্যর্থ হয়েছে:",
        "এখানে পড়া যায়নি", "এই ব্রাউজার এখানে SHA-256 গণনা করতে পারে না (পৃষ্ঠাটির HTTPS দরকার)।", "ভাষা",
    ),
    "cs": (
        "Najděte kopie svých vlastních obrázků",
        "Vyberte obrázky nebo videa, na kterých jste vy a které chcete najít. Vaše zařízení z nich přímo na této "
        "stránce spočítá otisky (hashe); samotné soubory vaše zařízení nikdy neopustí. Odešlou se jen otisky a "
        "poznámka, kterou se rozhodnete napsat.",
        "Analytici porovnávají otisky s tím, co orbweaver najde na webu; než se cokoli stane, vždy se podívá "
        "člověk. Uschovejte si svůj referenční kód, abyste se mohli zeptat.",
        "Vaše obrázky nebo videa", "Poznámka (nepovinná)", "Odeslat otisky", "Soubor",
        "Počítání otisků na tomto zařízení…", "Otisky jsou připraveny. Zatím nebylo nic odesláno.",
        "Odesílání otisků…", "Odesláno. Váš referenční kód:", "Odeslání se nezdařilo:", "zde nelze přečíst",
        "Tento prohlížeč zde nedokáže spočítat SHA-256 (stránka vyžaduje HTTPS).", "Jazyk",
    ),
    "da": (
        "Find kopier af dine egne billeder",
        "Vælg de billeder eller videoer af dig, som du vil have fundet. Din enhed beregner fingeraftryk (hashes) af "
        "dem her på siden; selve filerne forlader aldrig din enhed. Kun fingeraftrykkene og den note, du vælger at "
        "skrive, bliver sendt.",
        "Analytikere sammenligner fingeraftrykkene med det, orbweaver finder på nettet; et menneske ser altid på "
        "det, før der gøres noget. Gem din referencekode, så du kan spørge til den.",
        "Dine billeder eller videoer", "En note (valgfri)", "Send fingeraftrykkene", "Fil",
        "Beregner fingeraftryk på denne enhed…", "Fingeraftrykkene er klar. Intet er sendt endnu.",
        "Sender fingeraftrykkene…", "Sendt. Din referencekode:", "Afsendelsen mislykkedes:", "kunne ikke læses her",
        "Denne browser kan ikke beregne SHA-256 her (siden kræver HTTPS).", "Sprog",
    ),
    "de": (
        "Kopien Ihrer eigenen Bilder finden",
        "Wählen Sie die Bilder oder Videos von Ihnen aus, die gefunden werden sollen. Ihr Gerät berechnet hier auf "
        "dieser Seite ihre Fingerabdrücke (Hashes); die Dateien selbst verlassen Ihr Gerät nie. Gesendet werden nur "
        "die Fingerabdrücke und die Notiz, die Sie schreiben möchten.",
        "Analystinnen und Analysten vergleichen die Fingerabdrücke mit dem, was orbweaver im Web findet; bevor "
        "etwas geschieht, sieht immer ein Mensch hin. Bewahren Sie Ihren Referenzcode auf, um nachzufragen.",
        "Ihre Bilder oder Videos", "Eine Notiz (optional)", "Fingerabdrücke senden", "Datei",
        "Fingerabdrücke werden auf diesem Gerät berechnet…", "Fingerabdrücke bereit. Noch wurde nichts gesendet.",
        "Fingerabdrücke werden gesendet…", "Gesendet. Ihr Referenzcode:", "Senden fehlgeschlagen:",
        "konnte hier nicht gelesen werden", "Dieser Browser kann hier kein SHA-256 berechnen (die Seite braucht HTTPS).",
        "Sprache",
    ),
    "el": (
        "Βρείτε αντίγραφα των δικών σας εικόνων",
        "Επιλέξτε τις εικόνες ή τα βίντεο με εσάς που θέλετε να βρεθούν. Η συσκευή σας υπολογίζει τα αποτυπώματά "
        "τους (hashes) εδώ, σε αυτή τη σελίδα· τα ίδια τα αρχεία δεν φεύγουν ποτέ από τη συσκευή σας. Στέλνονται "
        "μόνο τα αποτυπώματα και η σημείωση που επιλέγετε να γράψετε.",
        "Αναλυτές συγκρίνουν τα αποτυπώματα με όσα βρίσκει το orbweaver στον ιστό· ένας άνθρωπος κοιτάζει πάντα "
        "πριν γίνει οτιδήποτε. Κρατήστε τον κωδικό αναφοράς σας για να ρωτήσετε σχετικά.",
        "Οι εικόνες ή τα βίντεό σας", "Σημείωση (προαιρετική)", "Αποστολή των αποτυπωμάτων", "Αρχείο",
        "Υπολογισμός αποτυπωμάτων σε αυτή τη συσκευή…", "Τα αποτυπώματα είναι έτοιμα. Δεν έχει σταλεί τίποτα ακόμη.",
        "Αποστολή των αποτυπωμάτων…", "Στάλθηκε. Ο κωδικός αναφοράς σας:", "Η αποστολή απέτυχε:",
        "δεν ήταν δυνατό να διαβαστεί εδώ",
        "Αυτό το πρόγραμμα περιήγησης δεν μπορεί να υπολογίσει SHA-256 εδώ (η σελίδα χρειάζεται HTTPS).", "Γλώσσα",
    ),
    "es": (
        "Encuentre copias de sus propias imágenes",
        "Elija las imágenes o vídeos suyos que quiere que se encuentren. Su dispositivo calcula sus huellas "
        "(hashes) aquí, en esta página; los archivos nunca salen de su dispositivo. Solo se envían las huellas y la "
        "nota que decida escribir.",
        "Los analistas comparan las huellas con lo que orbweaver encuentra en la web; una persona siempre lo revisa "
        "antes de hacer nada. Guarde su código de referencia para preguntar por ello.",
        "Sus imágenes o vídeos", "Una nota (opcional)", "Enviar las huellas", "Archivo",
        "Calculando las huellas en este dispositivo…", "Huellas listas. Todavía no se ha enviado nada.",
        "Enviando las huellas…", "Enviado. Su código de referencia:", "El envío ha fallado:", "no se pudo leer aquí",
        "Este navegador no puede calcular SHA-256 aquí (la página necesita HTTPS).", "Idioma",
    ),
    "fa": (
        "نسخه‌های تصاویر خودتان را پیدا کنید",
        "تصاویر یا ویدیوهایی از خودتان را که می‌خواهید پیدا شوند انتخاب کنید. دستگاه شما اثر انگشت (هش) آن‌ها را "
        "همین‌جا در این صفحه محاسبه می‌کند؛ خود فایل‌ها هرگز دستگاه شما را ترک نمی‌کنند. فقط اثر انگشت‌ها و "
        "یادداشتی که می‌نویسید فرستاده می‌شود.",
        "تحلیلگران اثر انگشت‌ها را با آنچه orbweaver در وب پیدا می‌کند مقایسه می‌کنند؛ پیش از هر اقدامی همیشه یک "
        "انسان بررسی می‌کند. کد مرجع خود را برای پیگیری نگه دارید.",
        "تصاویر یا ویدیوهای شما", "یادداشت (اختیاری)", "فرستادن اثر انگشت‌ها", "فایل",
        "در حال محاسبهٔ اثر انگشت‌ها روی این دستگاه…", "اثر انگشت‌ها آماده است. هنوز چیزی فرستاده نشده است.",
        "در حال فرستادن اثر انگشت‌ها…", "فرستاده شد. کد مرجع شما:", "فرستادن ناموفق بود:", "اینجا خوانده نشد",
        "این مرورگر نمی‌تواند اینجا SHA-256 را محاسبه کند (صفحه به HTTPS نیاز دارد).", "زبان",
    ),
    "fi": (
        "Löydä kopiot omista kuvistasi",
        "Valitse itseäsi esittävät kuvat tai videot, jotka haluat löydettävän. Laitteesi laskee niiden "
        "sormenjäljet (tiivisteet) tässä sivulla; itse tiedostot eivät koskaan lähde laitteeltasi. Vain sormenjäljet "
        "ja muistiinpano, jonka päätät kirjoittaa, lähetetään.",
        "Analyytikot vertaavat sormenjälkiä siihen, mitä orbweaver löytää verkosta; ihminen katsoo aina ennen kuin "
        "mitään tehdään. Säilytä viitekoodisi, jotta voit kysyä asiasta.",
        "Kuvasi tai videosi", "Muistiinpano (valinnainen)", "Lähetä sormenjäljet", "Tiedosto",
        "Lasketaan sormenjälkiä tällä laitteella…", "Sormenjäljet valmiina. Mitään ei ole vielä lähetetty.",
        "Lähetetään sormenjälkiä…", "Lähetetty. Viitekoodisi:", "Lähetys epäonnistui:", "ei voitu lukea täällä",
        "Tämä selain ei voi laskea SHA-256-tiivistettä täällä (sivu tarvitsee HTTPS:n).", "Kieli",
    ),
    "fil": (
        "Hanapin ang mga kopya ng sarili mong mga larawan",
        "Piliin ang mga larawan o video mo na gusto mong mahanap. Kinakalkula ng iyong device ang mga fingerprint "
        "(hash) ng mga ito dito sa pahinang ito; hindi kailanman umaalis sa iyong device ang mismong mga file. Ang "
        "mga fingerprint at ang tala na pipiliin mong isulat lamang ang ipinapadala.",
        "Inihahambing ng mga analyst ang mga fingerprint sa nakikita ng orbweaver sa web; laging may taong tumitingin "
        "bago gawin ang anumang hakbang. Itago ang iyong reference code para makapagtanong tungkol dito.",
        "Ang iyong mga larawan o video", "Isang tala (opsyonal)", "Ipadala ang mga fingerprint", "File",
        "Kinakalkula ang mga fingerprint sa device na ito…", "Handa na ang mga fingerprint. Wala pang naipapadala.",
        "Ipinapadala ang mga fingerprint…", "Naipadala. Ang iyong reference code:", "Hindi naipadala:",
        "hindi mabasa rito", "Hindi makakalkula ng browser na ito ang SHA-256 dito (kailangan ng pahina ang HTTPS).",
        "Wika",
    ),
    "he": (
        "מצאו עותקים של התמונות שלכם",
        "בחרו את התמונות או הסרטונים שלכם שאתם רוצים שיימצאו. המכשיר שלכם מחשב את טביעות האצבע שלהם (גיבובים) כאן "
        "בדף הזה; הקבצים עצמם לעולם אינם יוצאים מהמכשיר שלכם. נשלחות רק טביעות האצבע וההערה שתבחרו לכתוב.",
        "אנליסטים משווים את טביעות האצבע למה ש-orbweaver מוצא ברשת; אדם תמיד בודק לפני שנעשה משהו. שמרו את קוד "
        "ההפניה שלכם כדי לשאול עליו.",
        "התמונות או הסרטונים שלכם", "הערה (לא חובה)", "שליחת טביעות האצבע", "קובץ",
        "מחשב טביעות אצבע במכשיר הזה…", "טביעות האצבע מוכנות. עדיין לא נשלח דבר.", "שולח את טביעות האצבע…",
        "נשלח. קוד ההפניה שלכם:", "השליחה נכשלה:", "לא ניתן היה לקרוא כאן",
        "הדפדפן הזה לא יכול לחשב כאן SHA-256 (הדף צריך HTTPS).", "שפה",
    ),
    "hi": (
        "अपनी खुद की तस्वीरों की प्रतियाँ खोजें",
        "अपनी वे तस्वीरें या वीडियो चुनें जिन्हें आप खोजवाना चाहते हैं। आपका डिवाइस इसी पेज पर उनके फ़िंगरप्रिंट "
        "(हैश) बनाता है; फ़ाइलें कभी आपके डिवाइस से बाहर नहीं जातीं। केवल फ़िंगरप्रिंट और आपका लिखा नोट भेजा जाता है।",
        "विश्लेषक फ़िंगरप्रिंट का मिलान उससे करते हैं जो orbweaver वेब पर पाता है; कुछ भी करने से पहले हमेशा एक "
        "व्यक्ति देखता है। इसके बारे में पूछने के लिए अपना संदर्भ कोड संभाल कर रखें।",
        "आपकी तस्वीरें या वीडियो", "एक नोट (वैकल्पिक)", "फ़िंगरप्रिंट भेजें", "फ़ाइल",
        "इस डिवाइस पर फ़िंगरप्रिंट बनाए जा रहे हैं…", "फ़िंगरप्रिंट तैयार हैं। अभी तक कुछ नहीं भेजा गया है।",
        "फ़िंगरप्रिंट भेजे जा रहे हैं…", "भेज दिया गया। आपका संदर्भ कोड:", "भेजना विफल रहा:", "यहाँ पढ़ा नहीं जा सका",
        "यह ब्राउज़र यहाँ SHA-256 नहीं बना सकता (पेज को HTTPS चाहिए)।", "भाषा",
    ),
    "hu": (
        "Találja meg saját képei másolatait",
        "Válassza ki azokat a magáról készült képeket vagy videókat, amelyeket meg szeretne találni. Eszköze itt, "
        "ezen az oldalon kiszámítja az ujjlenyomatukat (hash); maguk a fájlok soha nem hagyják el az eszközét. Csak "
        "az ujjlenyomatok és a megírni kívánt megjegyzés kerül elküldésre.",
        "Elemzők vetik össze az ujjlenyomatokat azzal, amit az orbweaver a weben talál; mielőtt bármi történne, "
        "mindig egy ember is megnézi. Őrizze meg hivatkozási kódját, hogy érdeklődni tudjon.",
        "Az Ön képei vagy videói", "Megjegyzés (nem kötelező)", "Ujjlenyomatok elküldése", "Fájl",
        "Ujjlenyomatok számítása ezen az eszközön…", "Az ujjlenyomatok készen állnak. Még semmi sem lett elküldve.",
        "Ujjlenyomatok küldése…", "Elküldve. Hivatkozási kódja:", "A küldés nem sikerült:", "itt nem olvasható",
        "Ez a böngésző itt nem tud SHA-256-ot számolni (az oldalhoz HTTPS kell).", "Nyelv",
    ),
    "id": (
        "Temukan salinan gambar Anda sendiri",
        "Pilih gambar atau video diri Anda yang ingin ditemukan. Perangkat Anda menghitung sidik jarinya (hash) di "
        "halaman ini; berkasnya sendiri tidak pernah meninggalkan perangkat Anda. Hanya sidik jari dan catatan yang "
        "Anda pilih untuk ditulis yang dikirim.",
        "Analis membandingkan sidik jari dengan apa yang ditemukan orbweaver di web; seseorang selalu memeriksa "
        "sebelum tindakan apa pun diambil. Simpan kode referensi Anda untuk menanyakannya.",
        "Gambar atau video Anda", "Catatan (opsional)", "Kirim sidik jari", "Berkas",
        "Menghitung sidik jari di perangkat ini…", "Sidik jari siap. Belum ada yang dikirim.", "Mengirim sidik jari…",
        "Terkirim. Kode referensi Anda:", "Pengiriman gagal:", "tidak dapat dibaca di sini",
        "Peramban ini tidak dapat menghitung SHA-256 di sini (halaman memerlukan HTTPS).", "Bahasa",
    ),
    "it": (
        "Trova le copie delle tue immagini",
        "Scegli le immagini o i video di te che vuoi far trovare. Il tuo dispositivo ne calcola le impronte (hash) "
        "qui, in questa pagina; i file non lasciano mai il tuo dispositivo. Vengono inviate solo le impronte e la "
        "nota che scegli di scrivere.",
        "Gli analisti confrontano le impronte con ciò che orbweaver trova sul web; una persona controlla sempre "
        "prima che si faccia qualcosa. Conserva il tuo codice di riferimento per chiedere informazioni.",
        "Le tue immagini o i tuoi video", "Una nota (facoltativa)", "Invia le impronte", "File",
        "Calcolo delle impronte su questo dispositivo…", "Impronte pronte. Non è ancora stato inviato nulla.",
        "Invio delle impronte…", "Inviato. Il tuo codice di riferimento:", "Invio non riuscito:",
        "non è stato possibile leggerlo qui",
        "Questo browser non può calcolare SHA-256 qui (la pagina richiede HTTPS).", "Lingua",
    ),
    "ja": (
        "ご自身の画像のコピーを探す",
        "見つけてほしいご自身の画像や動画を選んでください。お使いの端末がこのページ上でそのフィンガープリント"
        "（ハッシュ）を計算します。ファイルそのものが端末の外に出ることはありません。送信されるのはフィンガー"
        "プリントと、書くことを選んだメモだけです。",
        "分析担当者がフィンガープリントを orbweaver がウェブ上で見つけたものと照合します。何かを行う前には"
        "必ず人が確認します。問い合わせのために参照コードを保管してください。",
        "あなたの画像または動画", "メモ（任意）", "フィンガープリントを送信", "ファイル",
        "この端末でフィンガープリントを計算しています…", "フィンガープリントの準備ができました。まだ何も送信されていません。",
        "フィンガープリントを送信しています…", "送信しました。参照コード：", "送信に失敗しました：", "ここでは読み込めませんでした",
        "このブラウザーではここで SHA-256 を計算できません（このページには HTTPS が必要です）。", "言語",
    ),
    "ko": (
        "내 사진의 복사본 찾기",
        "찾고 싶은 본인의 사진이나 동영상을 선택하세요. 기기가 이 페이지에서 바로 지문(해시)을 계산하며, 파일 자체는 "
        "기기 밖으로 절대 나가지 않습니다. 지문과 직접 작성한 메모만 전송됩니다.",
        "분석가가 지문을 orbweaver가 웹에서 찾은 것과 비교하며, 어떤 조치든 취하기 전에 항상 사람이 확인합니다. "
        "문의할 수 있도록 참조 코드를 보관하세요.",
        "내 사진 또는 동영상", "메모(선택 사항)", "지문 보내기", "파일",
        "이 기기에서 지문을 계산하는 중…", "지문이 준비되었습니다. 아직 아무것도 전송되지 않았습니다.", "지문을 보내는 중…",
        "전송되었습니다. 참조 코드:", "전송 실패:", "여기에서 읽을 수 없습니다",
        "이 브라우저는 여기에서 SHA-256을 계산할 수 없습니다(페이지에 HTTPS가 필요합니다).", "언어",
    ),
    "ms": (
        "Cari salinan gambar anda sendiri",
        "Pilih gambar atau video diri anda yang anda mahu ditemui. Peranti anda mengira cap jarinya (cincangan) di "
        "halaman ini; fail itu sendiri tidak pernah meninggalkan peranti anda. Hanya cap jari dan nota yang anda "
        "pilih untuk tulis dihantar.",
        "Penganalisis membandingkan cap jari dengan apa yang ditemui orbweaver di web; seseorang sentiasa menyemak "
        "sebelum apa-apa tindakan diambil. Simpan kod rujukan anda untuk bertanya tentangnya.",
        "Gambar atau video anda", "Nota (pilihan)", "Hantar cap jari", "Fail",
        "Mengira cap jari pada peranti ini…", "Cap jari sedia. Belum ada apa-apa dihantar.", "Menghantar cap jari…",
        "Dihantar. Kod rujukan anda:", "Penghantaran gagal:", "tidak dapat dibaca di sini",
        "Pelayar ini tidak dapat mengira SHA-256 di sini (halaman memerlukan HTTPS).", "Bahasa",
    ),
    "nb": (
        "Finn kopier av dine egne bilder",
        "Velg bildene eller videoene av deg som du vil ha funnet. Enheten din beregner fingeravtrykk (hasher) av dem "
        "her på denne siden; selve filene forlater aldri enheten din. Bare fingeravtrykkene og notatet du velger å "
        "skrive, blir sendt.",
        "Analytikere sammenligner fingeravtrykkene med det orbweaver finner på nettet; et menneske ser alltid på det "
        "før noe blir gjort. Ta vare på referansekoden din for å spørre om saken.",
        "Bildene eller videoene dine", "Et notat (valgfritt)", "Send fingeravtrykkene", "Fil",
        "Beregner fingeravtrykk på denne enheten…", "Fingeravtrykkene er klare. Ingenting er sendt ennå.",
        "Sender fingeravtrykkene…", "Sendt. Referansekoden din:", "Sendingen mislyktes:", "kunne ikke leses her",
        "Denne nettleseren kan ikke beregne SHA-256 her (siden trenger HTTPS).", "Språk",
    ),
    "nl": (
        "Vind kopieën van uw eigen afbeeldingen",
        "Kies de afbeeldingen of video's van uzelf die u gevonden wilt hebben. Uw apparaat berekent hier op deze "
        "pagina hun vingerafdrukken (hashes); de bestanden zelf verlaten uw apparaat nooit. Alleen de "
        "vingerafdrukken en de notitie die u wilt schrijven worden verstuurd.",
        "Analisten vergelijken de vingerafdrukken met wat orbweaver op het web vindt; er kijkt altijd een mens naar "
        "voordat er iets gebeurt. Bewaar uw referentiecode om ernaar te vragen.",
        "Uw afbeeldingen of video's", "Een notitie (optioneel)", "Vingerafdrukken versturen", "Bestand",
        "Vingerafdrukken worden op dit apparaat berekend…", "Vingerafdrukken klaar. Er is nog niets verstuurd.",
        "Vingerafdrukken worden verstuurd…", "Verstuurd. Uw referentiecode:", "Versturen mislukt:",
        "kon hier niet worden gelezen", "Deze browser kan hier geen SHA-256 berekenen (de pagina heeft HTTPS nodig).",
        "Taal",
    ),
    "pl": (
        "Znajdź kopie własnych zdjęć",
        "Wybierz swoje zdjęcia lub filmy, które chcesz odnaleźć. Twoje urządzenie oblicza ich odciski (skróty) tutaj, "
        "na tej stronie; same pliki nigdy nie opuszczają Twojego urządzenia. Wysyłane są tylko odciski i notatka, "
        "którą zdecydujesz się napisać.",
        "Analitycy porównują odciski z tym, co orbweaver znajduje w sieci; zanim cokolwiek zostanie zrobione, zawsze "
        "patrzy człowiek. Zachowaj kod referencyjny, aby móc o to zapytać.",
        "Twoje zdjęcia lub filmy", "Notatka (opcjonalna)", "Wyślij odciski", "Plik",
        "Obliczanie odcisków na tym urządzeniu…", "Odciski gotowe. Nic jeszcze nie zostało wysłane.",
        "Wysyłanie odcisków…", "Wysłano. Twój kod referencyjny:", "Wysyłanie nie powiodło się:",
        "nie udało się odczytać tutaj", "Ta przeglądarka nie może tu obliczyć SHA-256 (strona wymaga HTTPS).", "Język",
    ),
    "pt": (
        "Encontre cópias das suas próprias imagens",
        "Escolha as imagens ou vídeos seus que quer que sejam encontrados. O seu dispositivo calcula as impressões "
        "digitais (hashes) deles aqui, nesta página; os ficheiros nunca saem do seu dispositivo. Só são enviadas as "
        "impressões digitais e a nota que decidir escrever.",
        "Analistas comparam as impressões digitais com o que o orbweaver encontra na web; uma pessoa verifica sempre "
        "antes de qualquer ação. Guarde o seu código de referência para perguntar sobre o caso.",
        "As suas imagens ou vídeos", "Uma nota (opcional)", "Enviar as impressões digitais", "Ficheiro",
        "A calcular as impressões digitais neste dispositivo…", "Impressões digitais prontas. Ainda nada foi enviado.",
        "A enviar as impressões digitais…", "Enviado. O seu código de referência:", "O envio falhou:",
        "não foi possível ler aqui", "Este navegador não consegue calcular SHA-256 aqui (a página precisa de HTTPS).",
        "Idioma",
    ),
    "ro": (
        "Găsiți copii ale propriilor imagini",
        "Alegeți imaginile sau videoclipurile cu dumneavoastră pe care doriți să fie găsite. Dispozitivul "
        "dumneavoastră le calculează amprentele (hash-uri) aici, în această pagină; fișierele nu părăsesc niciodată "
        "dispozitivul. Se trimit doar amprentele și nota pe care alegeți să o scrieți.",
        "Analiștii compară amprentele cu ce găsește orbweaver pe web; întotdeauna se uită un om înainte de a se face "
        "ceva. Păstrați codul de referință pentru a întreba despre caz.",
        "Imaginile sau videoclipurile dumneavoastră", "O notă (opțională)", "Trimiteți amprentele", "Fișier",
        "Se calculează amprentele pe acest dispozitiv…", "Amprentele sunt gata. Nu s-a trimis încă nimic.",
        "Se trimit amprentele…", "Trimis. Codul dumneavoastră de referință:", "Trimiterea a eșuat:",
        "nu a putut fi citit aici", "Acest browser nu poate calcula SHA-256 aici (pagina are nevoie de HTTPS).", "Limbă",
    ),
    "ru": (
        "Найдите копии своих собственных изображений",
        "Выберите свои изображения или видео, которые вы хотите найти. Ваше устройство вычисляет их отпечатки (хеши) "
        "прямо на этой странице; сами файлы никогда не покидают ваше устройство. Отправляются только отпечатки и "
        "заметка, которую вы решите написать.",
        "Аналитики сравнивают отпечатки с тем, что orbweaver находит в интернете; прежде чем что-либо будет сделано, "
        "всегда смотрит человек. Сохраните свой код обращения, чтобы узнать о ходе дела.",
        "Ваши изображения или видео", "Заметка (необязательно)", "Отправить отпечатки", "Файл",
        "Вычисление отпечатков на этом устройстве…", "Отпечатки готовы. Пока ничего не отправлено.",
        "Отправка отпечатков…", "Отправлено. Ваш код обращения:", "Не удалось отправить:", "не удалось прочитать здесь",
        "Этот браузер не может вычислить здесь SHA-256 (странице нужен HTTPS).", "Язык",
    ),
    "sv": (
        "Hitta kopior av dina egna bilder",
        "Välj de bilder eller videor av dig som du vill ska hittas. Din enhet beräknar deras fingeravtryck (hashar) "
        "här på sidan; själva filerna lämnar aldrig din enhet. Bara fingeravtrycken och anteckningen du väljer att "
        "skriva skickas.",
        "Analytiker jämför fingeravtrycken med det orbweaver hittar på webben; en människa tittar alltid innan något "
        "görs. Spara din referenskod för att kunna fråga om ärendet.",
        "Dina bilder eller videor", "En anteckning (valfri)", "Skicka fingeravtrycken", "Fil",
        "Beräknar fingeravtryck på den här enheten…", "Fingeravtrycken är klara. Inget har skickats ännu.",
        "Skickar fingeravtrycken…", "Skickat. Din referenskod:", "Det gick inte att skicka:", "kunde inte läsas här",
        "Den här webbläsaren kan inte beräkna SHA-256 här (sidan behöver HTTPS).", "Språk",
    ),
    "th": (
        "ค้นหาสำเนาของภาพของคุณเอง",
        "เลือกภาพหรือวิดีโอของคุณที่ต้องการให้ค้นหา อุปกรณ์ของคุณจะคำนวณลายนิ้วมือดิจิทัล (แฮช) ของไฟล์เหล่านั้นในหน้านี้ "
        "ตัวไฟล์จะไม่ออกจากอุปกรณ์ของคุณเลย ระบบจะส่งเฉพาะลายนิ้วมือดิจิทัลและบันทึกที่คุณเลือกเขียนเท่านั้น",
        "นักวิเคราะห์จะเปรียบเทียบลายนิ้วมือดิจิทัลกับสิ่งที่ orbweaver พบบนเว็บ และจะมีคนตรวจดูเสมอก่อนดำเนินการใด ๆ "
        "โปรดเก็บรหัสอ้างอิงไว้เพื่อสอบถาม",
        "ภาพหรือวิดีโอของคุณ", "บันทึก (ไม่บังคับ)", "ส่งลายนิ้วมือดิจิทัล", "ไฟล์",
        "กำลังคำนวณลายนิ้วมือดิจิทัลบนอุปกรณ์นี้…", "ลายนิ้วมือดิจิทัลพร้อมแล้ว ยังไม่มีการส่งสิ่งใด",
        "กำลังส่งลายนิ้วมือดิจิทัล…", "ส่งแล้ว รหัสอ้างอิงของคุณ:", "ส่งไม่สำเร็จ:", "ไม่สามารถอ่านได้ที่นี่",
        "เบราว์เซอร์นี้คำนวณ SHA-256 ที่นี่ไม่ได้ (หน้านี้ต้องใช้ HTTPS)", "ภาษา",
    ),
    "tr": (
        "Kendi resimlerinizin kopyalarını bulun",
        "Bulunmasını istediğiniz, sizi gösteren resimleri veya videoları seçin. Cihazınız bunların parmak izlerini "
        "(özetlerini) burada, bu sayfada hesaplar; dosyaların kendisi cihazınızdan asla çıkmaz. Yalnızca parmak "
        "izleri ve yazmayı seçtiğiniz not gönderilir.",
        "Analistler parmak izlerini orbweaver'ın web'de bulduklarıyla karşılaştırır; bir şey yapılmadan önce her "
        "zaman bir insan bakar. Sormak için referans kodunuzu saklayın.",
        "Resimleriniz veya videolarınız", "Bir not (isteğe bağlı)", "Parmak izlerini gönder", "Dosya",
        "Parmak izleri bu cihazda hesaplanıyor…", "Parmak izleri hazır. Henüz hiçbir şey gönderilmedi.",
        "Parmak izleri gönderiliyor…", "Gönderildi. Referans kodunuz:", "Gönderme başarısız:", "burada okunamadı",
        "Bu tarayıcı burada SHA-256 hesaplayamıyor (sayfanın HTTPS'ye ihtiyacı var).", "Dil",
    ),
    "uk": (
        "Знайдіть копії власних зображень",
        "Виберіть свої зображення або відео, які ви хочете знайти. Ваш пристрій обчислює їхні відбитки (хеші) просто "
        "на цій сторінці; самі файли ніколи не залишають ваш пристрій. Надсилаються лише відбитки та примітка, яку "
        "ви вирішите написати.",
        "Аналітики порівнюють відбитки з тим, що orbweaver знаходить в інтернеті; перш ніж щось буде зроблено, "
        "завжди дивиться людина. Збережіть свій код звернення, щоб дізнатися про хід справи.",
        "Ваші зображення або відео", "Примітка (необов'язково)", "Надіслати відбитки", "Файл",
        "Обчислення відбитків на цьому пристрої…", "Відбитки готові. Ще нічого не надіслано.", "Надсилання відбитків…",
        "Надіслано. Ваш код звернення:", "Не вдалося надіслати:", "не вдалося прочитати тут",
        "Цей браузер не може обчислити тут SHA-256 (сторінці потрібен HTTPS).", "Мова",
    ),
    "vi": (
        "Tìm các bản sao hình ảnh của chính bạn",
        "Chọn những hình ảnh hoặc video về bạn mà bạn muốn được tìm thấy. Thiết bị của bạn tính dấu vân tay (mã băm) "
        "của chúng ngay trên trang này; bản thân các tệp không bao giờ rời khỏi thiết bị của bạn. Chỉ dấu vân tay và "
        "ghi chú bạn chọn viết mới được gửi đi.",
        "Các nhà phân tích so sánh dấu vân tay với những gì orbweaver tìm thấy trên web; luôn có một người xem xét "
        "trước khi làm bất cứ điều gì. Hãy giữ mã tham chiếu để hỏi về việc này.",
        "Hình ảnh hoặc video của bạn", "Ghi chú (không bắt buộc)", "Gửi dấu vân tay", "Tệp",
        "Đang tính dấu vân tay trên thiết bị này…", "Dấu vân tay đã sẵn sàng. Chưa có gì được gửi.",
        "Đang gửi dấu vân tay…", "Đã gửi. Mã tham chiếu của bạn:", "Gửi không thành công:", "không thể đọc ở đây",
        "Trình duyệt này không thể tính SHA-256 ở đây (trang cần HTTPS).", "Ngôn ngữ",
    ),
    "zh_Hans": (
        "查找您本人图片的副本",
        "请选择您希望被查找的本人图片或视频。您的设备会在本页面上计算它们的指纹（哈希值）；文件本身绝不会离开您的设备。"
        "只会发送指纹和您选择填写的备注。",
        "分析人员会将这些指纹与 orbweaver 在网上发现的内容进行比对；在采取任何行动之前，始终会有人工查看。请保存您的参考编号以便查询。",
        "您的图片或视频", "备注（可选）", "发送指纹", "文件", "正在此设备上计算指纹…", "指纹已就绪。尚未发送任何内容。",
        "正在发送指纹…", "已发送。您的参考编号：", "发送失败：", "无法在此读取",
        "此浏览器无法在此计算 SHA-256（该页面需要 HTTPS）。", "语言",
    ),
    "zh_Hant": (
        "尋找您本人圖片的副本",
        "請選擇您希望被找到的本人圖片或影片。您的裝置會在本頁面上計算它們的指紋（雜湊值）；檔案本身絕不會離開您的裝置。"
        "只會傳送指紋和您選擇填寫的備註。",
        "分析人員會將這些指紋與 orbweaver 在網路上發現的內容比對；在採取任何行動之前，一定會有人查看。請保存您的參考編號以便查詢。",
        "您的圖片或影片", "備註（選填）", "傳送指紋", "檔案", "正在此裝置上計算指紋…", "指紋已就緒。尚未傳送任何內容。",
        "正在傳送指紋…", "已傳送。您的參考編號：", "傳送失敗：", "無法在此讀取",
        "此瀏覽器無法在此計算 SHA-256（本頁面需要 HTTPS）。", "語言",
    ),
}

LANGUAGES: tuple[str, ...] = tuple(_TEXT)


def words(language: str) -> dict[str, str]:
    """Every string of the survivor page in ``language`` (English for one it does not know)."""
    return dict(zip(KEYS, _TEXT.get(language, _TEXT["en"]), strict=True))
