// Keeps the incident report form's draft in this browser and sends it when the
// connection returns. Works on old browsers: no modules, no build step.
(function () {
  var KEY = "vigilo-incident-draft";
  var store = window.localStorage;
  if (!store) return;
  var sent = document.querySelector("[data-sent-key]");
  if (sent) {
    // The receipt page: the draft it answers is done.
    try {
      var d = JSON.parse(store.getItem(KEY) || "{}");
      if (!d.client_key || d.client_key === sent.getAttribute("data-sent-key")) store.removeItem(KEY);
    } catch (e) { store.removeItem(KEY); }
    return;
  }
  var form = document.getElementById("incident-form");
  if (!form) return;
  var status = document.getElementById("draft-status");
  var lang = document.documentElement.lang === "en" ? "en" : "vi";
  var text = {
    saved: { vi: "Bản nháp được lưu trên máy này.", en: "Draft saved on this device." },
    offline: { vi: "Mất kết nối: báo cáo được giữ lại và sẽ tự gửi khi có mạng.", en: "No connection: the report is kept and will be sent when the connection returns." },
    restored: { vi: "Đã khôi phục bản nháp chưa gửi.", en: "Your unsent draft was restored." }
  };
  function say(k) { if (status) { status.textContent = text[k][lang]; status.hidden = false; } }
  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "k" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }
  var keyField = document.getElementById("i-key");
  if (keyField && !keyField.value) keyField.value = newKey();
  function fields() { return form.querySelectorAll("input[name], select[name], textarea[name]"); }
  function save(pending) {
    var d = { pending: !!pending };
    Array.prototype.forEach.call(fields(), function (el) {
      if (el.name === "csrf") return;
      if (el.type === "radio") { if (el.checked) d[el.name] = el.value; }
      else if (el.type === "checkbox") d[el.name] = el.checked ? el.value : "";
      else d[el.name] = el.value;
    });
    store.setItem(KEY, JSON.stringify(d));
  }
  function restore() {
    var d;
    try { d = JSON.parse(store.getItem(KEY) || "null"); } catch (e) { d = null; }
    if (!d) return null;
    var narrative = form.querySelector("[name=narrative]");
    if (narrative && narrative.value) return d; // the server echoed the form: keep it
    Array.prototype.forEach.call(fields(), function (el) {
      if (el.name === "csrf" || !(el.name in d)) return;
      if (el.type === "radio") el.checked = el.value === d[el.name];
      else if (el.type === "checkbox") el.checked = !!d[el.name];
      else el.value = d[el.name];
    });
    say("restored");
    return d;
  }
  var draft = restore();
  form.addEventListener("input", function () { save(false); });
  form.addEventListener("change", function () { save(false); });
  var step = "preview";
  Array.prototype.forEach.call(form.querySelectorAll("button[name=step]"), function (b) {
    b.addEventListener("click", function () { step = b.value; });
  });
  function sendNow() {
    var hidden = document.createElement("input");
    hidden.type = "hidden"; hidden.name = "step"; hidden.value = "send";
    form.appendChild(hidden);
    form.submit();
  }
  form.addEventListener("submit", function (ev) {
    save(step === "send");
    if (!navigator.onLine) {
      ev.preventDefault();
      say("offline");
    }
  });
  window.addEventListener("online", function () {
    var d;
    try { d = JSON.parse(store.getItem(KEY) || "{}"); } catch (e) { d = {}; }
    if (d.pending) sendNow();
  });
  // A report held while offline goes as soon as a page with the form opens online.
  if (draft && draft.pending && navigator.onLine) sendNow();
})();
