# Vigilo — English interface
app-name = Vigilo
app-tagline = Governing AI in health care
lang-switch = Tiếng Việt
lang-name = English
nav-home = Home
nav-login = Log in
nav-logout = Log out
nav-account = Account
nav-admin = Administration
skip-to-content = Skip to main content

home-title = Vigilo: governing artificial intelligence in health care
home-intro = Vigilo is the Ministry of Health's system for assessing, licensing and monitoring artificial intelligence (AI) products used in care, from hospitals to the 3,321 commune, ward and special-zone health stations. It connects to the HealthAI Global Regulatory Network (GRN).
home-areas = What Vigilo does
home-coming = Coming soon
area-directory = Directory of AI products
area-directory-desc = The public register of assessed medical AI products, searchable in Vietnamese and English.
area-appraisal = Appraisal and licensing
area-appraisal-desc = Risk classification harmonised with international frameworks, dossiers, review, decisions with conditions and the licence lifecycle.
area-sandbox = Sandbox
area-sandbox-desc = Blind evaluation of AI tools on the regulator's held-out data, with confidence intervals, calibration and subgroup fairness.
area-monitoring = Post-deployment monitoring
area-monitoring-desc = Deployments at facilities, periodic KPIs, drift detection, and quarterly and annual reports.
area-warning = Early warning
area-warning-desc = Reports of AI-related harm, de-identified and coded, signal detection and safety notices.
area-federation = GRN federation
area-federation-desc = Each country keeps its own data; nodes exchange signed directory entries and early warnings, never patient data.
area-navigator = Navigator
area-navigator-desc = Governance self-assessment, blueprints and training for facilities adopting AI.
home-map = Administrative map
home-map-desc = { $provinces } provinces and cities and { $units } communes, wards and special zones (2025 map).
home-provinces = See the provinces and cities

login-title = Log in
login-username = User name
login-password = Password
login-submit = Log in
login-failed = Wrong user name or password. Please try again.
login-throttled = Too many failed log-in attempts. Please try again in { $minutes } minutes.
login-help = No account yet? Ask the regulator's administrator for one.
logged-in-as = Logged in: { $name } ({ $role })

role-public = Public
role-reporter = Facility reporter
role-vendor = Vendor
role-reviewer = Reviewer
role-admin = Regulator administrator
role-peer = Peer node

account-title = My account
account-username = User name
account-role = Role
account-org = Organisation
account-none = (none)

admin-title = Administration
admin-users = Users
admin-audit = Audit trail
admin-audit-ok = Audit chain intact: { $count } rows verified.
admin-audit-broken = Audit chain broken at row { $seq }: { $reason }
col-username = User name
col-name = Name
col-role = Role
col-status = Status
col-time = Time
col-actor = Actor
col-action = Action
col-object = Object
status-active = Active
status-disabled = Disabled

provinces-title = Provinces and cities (2025)
col-code = Code
col-units = Local units
units-title = Communes, wards and special zones of { $name }
col-type = Type
col-area = Area (km²)

error-title = Something went wrong
error-back = Back to the home page
footer-text = Vigilo — open-source software of Vietnam's Ministry of Health. Patient data never leaves the health facility.
