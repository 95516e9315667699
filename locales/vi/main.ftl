# Vigilo — giao diện tiếng Việt (mặc định)
app-name = Vigilo
app-tagline = Hệ thống quản lý AI trong y tế
lang-switch = English
lang-name = Tiếng Việt
nav-home = Trang chủ
nav-login = Đăng nhập
nav-logout = Đăng xuất
nav-account = Tài khoản
nav-admin = Quản trị
skip-to-content = Chuyển đến nội dung chính

home-title = Vigilo: quản lý trí tuệ nhân tạo trong y tế
home-intro = Vigilo là hệ thống của Bộ Y tế để đánh giá, cấp phép và giám sát các sản phẩm trí tuệ nhân tạo (AI) dùng trong khám chữa bệnh, từ bệnh viện đến 3.321 trạm y tế xã, phường và đặc khu. Hệ thống kết nối với Mạng lưới Quản lý AI Y tế Toàn cầu (HealthAI GRN).
home-areas = Các chức năng
home-coming = Sắp ra mắt
area-directory = Danh mục sản phẩm AI
area-directory-desc = Danh mục công khai các sản phẩm AI y tế đã được đánh giá, tra cứu bằng tiếng Việt và tiếng Anh.
area-appraisal = Thẩm định và cấp phép
area-appraisal-desc = Phân loại rủi ro theo chuẩn quốc tế, hồ sơ, thẩm định, quyết định có điều kiện và vòng đời giấy phép.
area-sandbox = Thử nghiệm có kiểm soát
area-sandbox-desc = Đánh giá mù công cụ AI trên dữ liệu đối chứng của cơ quan quản lý, với khoảng tin cậy, hiệu chuẩn và công bằng theo nhóm.
area-monitoring = Giám sát sau triển khai
area-monitoring-desc = Triển khai tại cơ sở, chỉ số định kỳ, phát hiện trôi dạt và báo cáo quý, năm.
area-warning = Cảnh báo sớm
area-warning-desc = Báo cáo sự cố do AI, khử định danh, phân loại, phát hiện tín hiệu và thông báo an toàn.
area-federation = Mạng lưới GRN
area-federation-desc = Mỗi quốc gia giữ dữ liệu của mình; các nút trao đổi danh mục và cảnh báo có chữ ký, không bao giờ trao đổi dữ liệu bệnh nhân.
area-navigator = Bộ công cụ Navigator
area-navigator-desc = Tự đánh giá năng lực quản trị AI cho cơ sở y tế, mẫu văn bản và đào tạo.
home-map = Bản đồ hành chính
home-map-desc = { $provinces } tỉnh, thành phố và { $units } xã, phường, đặc khu (bản đồ hành chính 2025).
home-provinces = Xem danh sách tỉnh, thành phố

login-title = Đăng nhập
login-username = Tên đăng nhập
login-password = Mật khẩu
login-submit = Đăng nhập
login-failed = Tên đăng nhập hoặc mật khẩu không đúng. Vui lòng thử lại.
login-throttled = Quá nhiều lần đăng nhập sai. Vui lòng thử lại sau { $minutes } phút.
login-help = Chưa có tài khoản? Liên hệ quản trị viên của Cục để được cấp.
logged-in-as = Đang đăng nhập: { $name } ({ $role })

role-public = Công chúng
role-reporter = Người báo cáo của cơ sở y tế
role-vendor = Nhà cung cấp
role-reviewer = Chuyên viên thẩm định
role-admin = Quản trị viên
role-peer = Nút mạng lưới

account-title = Tài khoản của tôi
account-username = Tên đăng nhập
account-role = Vai trò
account-org = Tổ chức
account-none = (không có)

admin-title = Quản trị
admin-users = Người dùng
admin-audit = Nhật ký kiểm toán
admin-audit-ok = Chuỗi nhật ký toàn vẹn: { $count } bản ghi đã kiểm tra.
admin-audit-broken = Chuỗi nhật ký bị phá vỡ tại bản ghi { $seq }: { $reason }
col-username = Tên đăng nhập
col-name = Họ tên
col-role = Vai trò
col-status = Trạng thái
col-time = Thời gian
col-actor = Người thực hiện
col-action = Hành động
col-object = Đối tượng
status-active = Đang hoạt động
status-disabled = Đã khóa

provinces-title = Tỉnh, thành phố (2025)
col-code = Mã
col-units = Đơn vị cấp xã
units-title = Xã, phường, đặc khu của { $name }
col-type = Loại
col-area = Diện tích (km²)

error-title = Có lỗi xảy ra
error-back = Về trang chủ
footer-text = Vigilo — phần mềm mã nguồn mở của Bộ Y tế Việt Nam. Dữ liệu bệnh nhân không bao giờ rời khỏi cơ sở y tế.
