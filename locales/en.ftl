## English: what people read in e-mails and on the pages under /r/.
## Every message here must also be in hi.ftl (a test checks).

## Pages of codes (/r/...)

page-this-code = This code
page-report-link = Report this code
page-report-title = Report this code
page-report-intro = Tell us what is wrong with where this code leads. The service's operator reviews every report.
page-report-details = What happened (optional)
page-report-send = Send report
page-report-thanks-title = Thank you
page-report-thanks-body = Your report is in the operator's queue.
page-not-found-title = Code not found
page-not-found-heading = This code does not exist
page-not-found-body = It may have been deleted by its owner.
page-blocked-title = Code unavailable
page-blocked-heading = This code is no longer available
page-blocked-body = It was disabled by the service.
page-unavailable-title = Try again
page-unavailable-heading = Please try again in a moment
page-too-many-title = Too many requests
page-too-many-heading = Too many requests
page-too-many-body = Please wait a minute and scan again.
page-paused-title = Paused
page-paused-heading = { $name } is paused
page-paused-body = The owner has paused this code. Try again later.
page-expired-title = Expired
page-expired-heading = { $name } has expired
page-expired-body = This code is no longer active.
page-limit-title = Limit reached
page-limit-heading = { $name } has reached its scan limit
page-limit-body = It no longer accepts scans.
page-password-title = Password required
page-password-heading = { $name } is protected
page-password-intro = Enter the password to continue.
page-password-wrong = Wrong password. Try again.
page-password-too-many = Too many attempts. Try again in a few minutes.
page-password-label = Password
page-continue = Continue
page-organisation = Organisation
page-job-title = Title
page-website = Website
page-address = Address
page-note = Note
page-phone = Phone
page-email = E-mail
page-save-contact = Save contact
page-starts = Starts
page-ends = Ends
page-time-zone = Time zone
page-where = Where
page-about = About
page-add-to-calendar = Add to calendar
page-wifi-heading = Wi-Fi: { $ssid }
page-network = Network
page-security = Security
page-open-network = Open network
page-copy-password = Copy password
page-copied = Copied
page-wifi-hint = Or scan the code with your camera app to join.
page-amount = Amount
page-amount-open = Enter the amount in your UPI app
page-for = For
page-pay-heading = Pay { $payee }
page-pay-with-upi = Pay with UPI
page-upi-hint = Opens your UPI app (GPay, PhonePe, Paytm, BHIM …).
page-to = To
page-write-email = Write e-mail
page-number = Number
page-call = Call
page-send-sms = Send SMS
page-location = Location
page-open-in-maps = Open in maps

## E-mails: the frame

mail-hi = Hi { $name },
mail-there = there
mail-because = You receive this because { $reason }.
mail-unsubscribe = Unsubscribe
mail-unsubscribe-one-click = with one click.
mail-reason-scan-alerts = scan alerts are on in your settings
mail-reason-weekly-summary = the weekly summary is on in your settings
mail-reason-monthly-statement = monthly statements are on in your settings
mail-reason-job-failures = job-failure alerts are on in your settings
mail-reason-usage-alerts = usage alerts are on in your settings

## E-mails: each kind (the -subject message is the subject line)

welcome-subject = Welcome to qrsaas
welcome-ready = Welcome to qrsaas! Your account { $email } is ready.
welcome-start = Create your first QR code from the dashboard, or through the API (reference: { $docs_url }).
welcome-start-html = Create your first QR code from the dashboard, or through the
welcome-api = API

password_reset-subject = Reset your qrsaas password
password_reset-asked = Someone asked to reset the password of your account { $email }. To choose a new one, open:
password_reset-action = Choose a new password
password_reset-once = The link works once, for one hour. If it was not you, ignore this e-mail: your password stays as it is.

verify_email-subject = Confirm your e-mail address
verify_email-ask = Please confirm that { $address } is your e-mail address:
verify_email-ask-change = Please confirm that { $address } is your e-mail address (the new address of your account):
verify_email-action = Confirm { $address }
verify_email-once = The link works once, for { $hours } hours.

export_ready-subject = Your QR code export is ready
export_ready-ready = Your export of { $codes } QR codes is ready:
export_ready-download = download the ZIP
export_ready-kept = The file is kept until { $expires }.

account_export_ready-subject = Your qrsaas data export is ready
account_export_ready-ready = The copy of your account's data you asked for is ready:
account_export_ready-holds = It holds your profile, settings, codes, projects, scans and billing records as JSON and CSV. Sign in to download it; the file is kept until { $expires }.

usage_statement-subject = Your qrsaas usage statement for { $month }
usage_statement-intro = Your qrsaas usage in { $month } (UTC):
usage_statement-plan = Plan
usage_statement-scans = Scans
usage_statement-codes = QR codes created
usage_statement-exports = Exports
usage_statement-credits = Credits spent
usage_statement-of = { $n } of { $limit }
usage_statement-over = { $value } ({ $over } over quota)
usage_statement-details = Details

usage_alert-subject = { $headline }
usage_alert-reached = You have reached your { $what } quota
usage_alert-used = You have used { $threshold }% of your { $what } quota
usage_alert-scans-go-on = Your codes keep working and every scan is still recorded; scans beyond the quota count as over quota.
usage_alert-refused = New ones are refused until the next period, unless you upgrade or hold credits.
usage_alert-not-yet = Nothing changes yet; upgrade or buy credits before you reach it.
usage_alert-line = { $headline } on the { $plan } plan: { $used } of { $limit } (period { $period_start } to { $period_end }).
usage_alert-link = Plans and usage
quota-scans_per_month = scans per month
quota-codes_per_month = codes per month
quota-exports_per_month = exports per month
quota-dynamic_codes = dynamic codes
quota-projects = projects
quota-api_keys = API keys
quota-webhook_endpoints = webhook endpoints
quota-domains = domains
quota-retention_days = retention days

payment_failed-subject = Your payment did not go through
payment_failed-body = The payment for your { $plan } plan did not go through. Your plan stays as it is until { $until }; update your payment method before then ({ $hint }).

plan_ended-subject = Your plan has ended
plan_ended-body = Your { $plan } plan has ended because its payment is still outstanding; your account is on the { $fallback } plan now. Nothing was deleted: every code keeps working, and new ones follow the { $fallback } plan's limits.

credits_added-subject = Credits added to your account
credits_added-body = Thank you: { $credits } credits were added to your account. Your balance is { $balance }.

scan_milestone-subject = { $code_name } reached { $milestone } scans
scan_milestone-body = Your QR code "{ $code_name }" ({ $short_url }) has been scanned { $milestone } times.
scan_milestone-analytics = Its analytics
scan_milestone-see = See its analytics

weekly_summary-subject = Your week: { $scans } scans ({ $change })
weekly_summary-body = Your week ({ $week_start } to { $week_end }): { $scans } scans, { $change } against the week before ({ $previous }).
weekly_summary-no-change = no change
weekly_summary-up-from-none = up from none
weekly_summary-top = Top codes:
weekly_summary-analytics = Analytics

job_failed-subject = Your { $kind } job failed
job_failed-body = Your { $kind } job { $job_id } failed after { $attempts } attempts:
job_failed-status = Its status
job-kind-export = export
job-kind-bulk_create = bulk create
job-kind-account_export = account export

webhook_disabled-subject = Your webhook endpoint was turned off
webhook_disabled-body = We turned off your webhook endpoint { $url }: { $why }
webhook_disabled-gone = it answered 410 Gone, which asks senders to stop
webhook_disabled-failing = it has failed every delivery for days
webhook_disabled-how = Turn it back on with { $enable } once it answers again; its deliveries are listed at { $deliveries }.

domain_failing-subject = Your domain { $domain } no longer verifies
domain_failing-body = Our daily check of { $domain } failed:
domain_failing-kept = Its codes keep answering there for now, but no new certificate can be issued for it, so it may stop working when the current one expires.
domain_failing-how = Put the TXT record { $txt_name } = { $txt_value } back (or point the domain at this service again), then check it with { $verify }.
