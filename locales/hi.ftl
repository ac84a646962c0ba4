## हिन्दी: ई-मेल और /r/ के पेजों पर लोग जो पढ़ते हैं।
## यहाँ का हर संदेश en.ftl में भी होना चाहिए (एक टेस्ट जाँचता है)।

## कोड के पेज (/r/...)

page-this-code = यह कोड
page-report-link = इस कोड की शिकायत करें
page-report-title = इस कोड की शिकायत करें
page-report-intro = बताइए कि यह कोड जहाँ ले जाता है उसमें क्या गलत है। सेवा का संचालक हर शिकायत देखता है।
page-report-details = क्या हुआ (वैकल्पिक)
page-report-send = शिकायत भेजें
page-report-thanks-title = धन्यवाद
page-report-thanks-body = आपकी शिकायत संचालक की कतार में है।
page-not-found-title = कोड नहीं मिला
page-not-found-heading = यह कोड मौजूद नहीं है
page-not-found-body = हो सकता है इसके मालिक ने इसे हटा दिया हो।
page-blocked-title = कोड उपलब्ध नहीं
page-blocked-heading = यह कोड अब उपलब्ध नहीं है
page-blocked-body = सेवा ने इसे बंद कर दिया है।
page-unavailable-title = फिर कोशिश करें
page-unavailable-heading = कृपया थोड़ी देर में फिर कोशिश करें
page-too-many-title = बहुत अधिक अनुरोध
page-too-many-heading = बहुत अधिक अनुरोध
page-too-many-body = कृपया एक मिनट रुककर फिर स्कैन करें।
page-paused-title = रोका गया
page-paused-heading = { $name } रोका गया है
page-paused-body = मालिक ने इस कोड को रोक दिया है। बाद में फिर कोशिश करें।
page-expired-title = समय समाप्त
page-expired-heading = { $name } की समय-सीमा समाप्त हो गई है
page-expired-body = यह कोड अब सक्रिय नहीं है।
page-limit-title = सीमा पूरी
page-limit-heading = { $name } अपनी स्कैन सीमा तक पहुँच गया है
page-limit-body = यह अब स्कैन स्वीकार नहीं करता।
page-password-title = पासवर्ड आवश्यक
page-password-heading = { $name } सुरक्षित है
page-password-intro = आगे बढ़ने के लिए पासवर्ड डालें।
page-password-wrong = गलत पासवर्ड। फिर कोशिश करें।
page-password-too-many = बहुत अधिक प्रयास। कुछ मिनट बाद फिर कोशिश करें।
page-password-label = पासवर्ड
page-continue = आगे बढ़ें
page-organisation = संस्था
page-job-title = पद
page-website = वेबसाइट
page-address = पता
page-note = टिप्पणी
page-phone = फ़ोन
page-email = ई-मेल
page-save-contact = संपर्क सहेजें
page-starts = शुरू
page-ends = समाप्त
page-time-zone = समय क्षेत्र
page-where = कहाँ
page-about = विवरण
page-add-to-calendar = कैलेंडर में जोड़ें
page-wifi-heading = वाई-फ़ाई: { $ssid }
page-network = नेटवर्क
page-security = सुरक्षा
page-open-network = खुला नेटवर्क
page-copy-password = पासवर्ड कॉपी करें
page-copied = कॉपी हो गया
page-wifi-hint = या जुड़ने के लिए कैमरा ऐप से कोड स्कैन करें।
page-amount = राशि
page-amount-open = अपने UPI ऐप में राशि डालें
page-for = किसके लिए
page-pay-heading = { $payee } को भुगतान करें
page-pay-with-upi = UPI से भुगतान करें
page-upi-hint = आपका UPI ऐप खुलेगा (GPay, PhonePe, Paytm, BHIM …)।
page-to = प्रति
page-write-email = ई-मेल लिखें
page-number = नंबर
page-call = कॉल करें
page-send-sms = SMS भेजें
page-location = स्थान
page-open-in-maps = मानचित्र में खोलें

## ई-मेल: ढाँचा

mail-hi = नमस्ते { $name },
mail-there = जी
mail-because = आपको यह इसलिए मिला क्योंकि { $reason }।
mail-unsubscribe = सदस्यता छोड़ें
mail-unsubscribe-one-click = — एक क्लिक में।
mail-reason-scan-alerts = आपकी सेटिंग में स्कैन अलर्ट चालू हैं
mail-reason-weekly-summary = आपकी सेटिंग में साप्ताहिक सारांश चालू है
mail-reason-monthly-statement = आपकी सेटिंग में मासिक विवरण चालू हैं
mail-reason-job-failures = आपकी सेटिंग में जॉब विफलता अलर्ट चालू हैं
mail-reason-usage-alerts = आपकी सेटिंग में उपयोग अलर्ट चालू हैं

## ई-मेल: हर प्रकार (-subject संदेश विषय पंक्ति है)

welcome-subject = qrsaas में आपका स्वागत है
welcome-ready = qrsaas में आपका स्वागत है! आपका खाता { $email } तैयार है।
welcome-start = अपना पहला QR कोड डैशबोर्ड से बनाएँ, या API से (संदर्भ: { $docs_url })।
welcome-start-html = अपना पहला QR कोड डैशबोर्ड से बनाएँ, या
welcome-api = API से

password_reset-subject = अपना qrsaas पासवर्ड रीसेट करें
password_reset-asked = किसी ने आपके खाते { $email } का पासवर्ड रीसेट करने को कहा है। नया पासवर्ड चुनने के लिए खोलें:
password_reset-action = नया पासवर्ड चुनें
password_reset-once = यह लिंक एक बार, एक घंटे के लिए काम करता है। अगर यह आप नहीं थे, तो इस ई-मेल को अनदेखा करें: आपका पासवर्ड वैसा ही रहेगा।

verify_email-subject = अपने ई-मेल पते की पुष्टि करें
verify_email-ask = कृपया पुष्टि करें कि { $address } आपका ई-मेल पता है:
verify_email-ask-change = कृपया पुष्टि करें कि { $address } आपका ई-मेल पता है (आपके खाते का नया पता):
verify_email-action = { $address } की पुष्टि करें
verify_email-once = यह लिंक एक बार, { $hours } घंटों के लिए काम करता है।

export_ready-subject = आपका QR कोड एक्सपोर्ट तैयार है
export_ready-ready = { $codes } QR कोड का आपका एक्सपोर्ट तैयार है:
export_ready-download = ZIP डाउनलोड करें
export_ready-kept = फ़ाइल { $expires } तक रखी जाएगी।

account_export_ready-subject = आपका qrsaas डेटा एक्सपोर्ट तैयार है
account_export_ready-ready = आपके खाते के डेटा की माँगी गई प्रति तैयार है:
account_export_ready-holds = इसमें आपकी प्रोफ़ाइल, सेटिंग, कोड, प्रोजेक्ट, स्कैन और बिलिंग रिकॉर्ड JSON और CSV में हैं। डाउनलोड करने के लिए साइन इन करें; फ़ाइल { $expires } तक रखी जाएगी।

usage_statement-subject = { $month } के लिए आपका qrsaas उपयोग विवरण
usage_statement-intro = { $month } में आपका qrsaas उपयोग (UTC):
usage_statement-plan = प्लान
usage_statement-scans = स्कैन
usage_statement-codes = बनाए गए QR कोड
usage_statement-exports = एक्सपोर्ट
usage_statement-credits = खर्च किए गए क्रेडिट
usage_statement-of = { $limit } में से { $n }
usage_statement-over = { $value } (कोटा से { $over } अधिक)
usage_statement-details = विवरण

usage_alert-subject = { $headline }
usage_alert-reached = आप अपने { $what } कोटा तक पहुँच गए हैं
usage_alert-used = आपने अपने { $what } कोटा का { $threshold }% उपयोग कर लिया है
usage_alert-scans-go-on = आपके कोड काम करते रहेंगे और हर स्कैन दर्ज होता रहेगा; कोटा से आगे के स्कैन कोटा से अधिक गिने जाएँगे।
usage_alert-refused = अगली अवधि तक नए अनुरोध अस्वीकार होंगे, जब तक आप अपग्रेड न करें या आपके पास क्रेडिट न हों।
usage_alert-not-yet = अभी कुछ नहीं बदलता; सीमा तक पहुँचने से पहले अपग्रेड करें या क्रेडिट खरीदें।
usage_alert-line = { $plan } प्लान पर { $headline }: { $limit } में से { $used } (अवधि { $period_start } से { $period_end })।
usage_alert-link = प्लान और उपयोग
quota-scans_per_month = मासिक स्कैन
quota-codes_per_month = मासिक कोड
quota-exports_per_month = मासिक एक्सपोर्ट
quota-dynamic_codes = डायनामिक कोड
quota-projects = प्रोजेक्ट
quota-api_keys = API कुंजियाँ
quota-webhook_endpoints = वेबहुक एंडपॉइंट
quota-domains = डोमेन
quota-retention_days = डेटा रखने के दिन

payment_failed-subject = आपका भुगतान नहीं हो पाया
payment_failed-body = आपके { $plan } प्लान का भुगतान नहीं हो पाया। आपका प्लान { $until } तक वैसा ही रहेगा; उससे पहले अपनी भुगतान विधि अपडेट करें ({ $hint })।

plan_ended-subject = आपका प्लान समाप्त हो गया है
plan_ended-body = आपका { $plan } प्लान समाप्त हो गया है क्योंकि उसका भुगतान अभी बाकी है; आपका खाता अब { $fallback } प्लान पर है। कुछ भी हटाया नहीं गया: हर कोड काम करता रहेगा, और नए कोड { $fallback } प्लान की सीमाओं के अनुसार चलेंगे।

credits_added-subject = आपके खाते में क्रेडिट जोड़े गए
credits_added-body = धन्यवाद: आपके खाते में { $credits } क्रेडिट जोड़े गए। आपका शेष { $balance } है।

scan_milestone-subject = { $code_name } ने { $milestone } स्कैन पूरे किए
scan_milestone-body = आपका QR कोड "{ $code_name }" ({ $short_url }) { $milestone } बार स्कैन हो चुका है।
scan_milestone-analytics = इसके आँकड़े
scan_milestone-see = इसके आँकड़े देखें

weekly_summary-subject = आपका सप्ताह: { $scans } स्कैन ({ $change })
weekly_summary-body = आपका सप्ताह ({ $week_start } से { $week_end }): { $scans } स्कैन, पिछले सप्ताह ({ $previous }) की तुलना में { $change }।
weekly_summary-no-change = कोई बदलाव नहीं
weekly_summary-up-from-none = शून्य से बढ़कर
weekly_summary-top = शीर्ष कोड:
weekly_summary-analytics = आँकड़े

job_failed-subject = आपका { $kind } जॉब विफल हुआ
job_failed-body = आपका { $kind } जॉब { $job_id } { $attempts } प्रयासों के बाद विफल हुआ:
job_failed-status = इसकी स्थिति
job-kind-export = एक्सपोर्ट
job-kind-bulk_create = बल्क निर्माण
job-kind-account_export = खाता एक्सपोर्ट

webhook_disabled-subject = आपका वेबहुक एंडपॉइंट बंद कर दिया गया
webhook_disabled-body = हमने आपका वेबहुक एंडपॉइंट { $url } बंद कर दिया: { $why }
webhook_disabled-gone = उसने 410 Gone लौटाया, जो भेजने वालों को रुकने को कहता है
webhook_disabled-failing = वह कई दिनों से हर डिलीवरी में विफल रहा है
webhook_disabled-how = जब वह फिर से जवाब देने लगे, तो इसे { $enable } से फिर चालू करें; इसकी डिलीवरी { $deliveries } पर सूचीबद्ध हैं।

domain_failing-subject = आपका डोमेन { $domain } अब सत्यापित नहीं होता
domain_failing-body = { $domain } की हमारी दैनिक जाँच विफल रही:
domain_failing-kept = इसके कोड अभी वहाँ काम करते रहेंगे, पर इसके लिए नया प्रमाणपत्र जारी नहीं हो सकता, इसलिए मौजूदा प्रमाणपत्र की अवधि खत्म होने पर यह काम करना बंद कर सकता है।
domain_failing-how = TXT रिकॉर्ड { $txt_name } = { $txt_value } वापस लगाएँ (या डोमेन को फिर से इस सेवा की ओर इंगित करें), फिर { $verify } से जाँचें।
