/* Haven's web chat. No framework, no third-party code, nothing inline: the
   Content-Security-Policy allows only this file. Nothing about the conversation is kept
   in the browser (no localStorage, no cache): it lives in this page's memory only. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("haven-config").textContent);
  var T = config.texts;
  var $ = function (id) { return document.getElementById(id); };
  var state = { chat: "", after: 0, socket: null, polling: false, failures: 0,
                opened: false, lastActive: Date.now(), lastTouch: 0, live: 0, ready: false,
                notifying: false };

  function say(template, fields) {
    return template.replace(/\{(\w+)\}/g, function (_, key) { return fields[key]; });
  }

  function requestId() {
    var bytes = new Uint8Array(18);
    crypto.getRandomValues(bytes);
    var text = "";
    for (var i = 0; i < bytes.length; i++) { text += String.fromCharCode(bytes[i]); }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function headers(id, extra) {
    var all = { "X-Haven-CSRF": config.csrf, "X-Haven-Request": id };
    for (var key in extra) { all[key] = extra[key]; }
    return all;
  }

  /* A POST, sent again once with the same request id if the network failed: Haven
     recognises the repeat (409) as the same request, so it is never handled twice. */
  function post(path, body, tries) {
    var id = requestId();
    var attempt = function (left) {
      return fetch(path, {
        method: "POST", credentials: "same-origin", cache: "no-store",
        headers: headers(id, { "Content-Type": "application/json" }),
        body: JSON.stringify(body || {})
      }).then(function (response) {
        if (response.status === 409) { return { ok: true, status: 200, data: {} }; }
        return response.json().then(function (data) {
          return { ok: response.ok, status: response.status, data: data };
        }, function () { return { ok: response.ok, status: response.status, data: {} }; });
      }, function (error) {
        if (left > 0) { return attempt(left - 1); }
        throw error;
      });
    };
    return attempt(tries === undefined ? 1 : tries);
  }

  /* ---- screens ------------------------------------------------------------------ */

  var screens = ["welcome", "code", "resume", "chat"];

  function show(name) {
    screens.forEach(function (screen) { $(screen).hidden = screen !== name; });
    $("lock").hidden = name !== "chat" && name !== "code";
    window.scrollTo(0, 0);
    /* Focus follows a change the person made; the first screen leaves it at the top,
       where the skip link and quick exit come first. */
    var heading = $(name).querySelector("h1");
    if (state.ready && heading && name !== "chat") {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  }

  function clearConversation() {
    stopLive();
    $("log").textContent = "";
    $("text").value = "";
    $("code-value").textContent = "";
    state.chat = "";
    state.after = 0;
    state.opened = false;
    history.replaceState(null, "", "/");
  }

  function locked() {
    clearConversation();
    $("locked-note").hidden = false;
    show("resume");
  }

  function enterChat(chat) {
    state.chat = chat;
    history.replaceState(null, "", "/c/" + chat);
    show("chat");
    startLive();
    setupNotify();
    if (state.ready) { $("text").focus(); }
  }

  /* ---- the conversation --------------------------------------------------------- */

  function bubble(who, text) {
    var item = document.createElement("li");
    item.className = "msg " + who;
    var label = document.createElement("span");
    label.className = "sr-only";
    label.textContent = (who === "you" ? T.you : T.haven) + ": ";
    var body = document.createElement("p");
    body.textContent = text;
    item.appendChild(label);
    item.appendChild(body);
    $("log").appendChild(item);
    /* Haven's messages from their first line (they can be long); the person's own to
       their end. */
    item.scrollIntoView({ block: who === "you" ? "end" : "start" });
    return item;
  }

  function fillButtons(item, rows) {
    var old = item.querySelector(".buttons");
    if (old) { item.removeChild(old); }
    if (!rows || !rows.length) { return; }
    var box = document.createElement("div");
    box.className = "buttons";
    rows.forEach(function (row) {
      row.forEach(function (button) {
        var element = document.createElement("button");
        element.type = "button";
        element.textContent = button.label;
        element.setAttribute("data-value", button.data);
        element.addEventListener("click", function () { press(box, button); });
        box.appendChild(element);
      });
    });
    item.appendChild(box);
  }

  function press(box, button) {
    Array.prototype.forEach.call(box.querySelectorAll("button"), function (b) { b.disabled = true; });
    bubble("you", button.label);
    post("/api/button", { data: button.data, locale: config.locale }).then(function (answer) {
      if (!answer.ok) { failed(answer); enableAll(box); }
    }, function () { failed({}); enableAll(box); });
  }

  function enableAll(box) {
    Array.prototype.forEach.call(box.querySelectorAll("button"), function (b) { b.disabled = false; });
  }

  function render(message) {
    if (message.edit) {
      var target = document.querySelector('.msg[data-id="' + message.edit + '"]');
      if (target) {
        target.querySelector("p").textContent = message.text;
        fillButtons(target, message.buttons);
        target.setAttribute("data-id", message.id);
        return;
      }
    }
    var item = bubble("haven", message.text);
    item.setAttribute("data-id", message.id);
    fillButtons(item, message.buttons);
    if (message.file) {
      var link = document.createElement("a");
      link.href = "/api/file/" + message.id;
      link.setAttribute("download", message.file.name);
      link.className = "button";
      link.textContent = say(T.download, { name: message.file.name });
      item.appendChild(link);
    }
  }

  function receive(data) {
    var messages = data.messages || [];
    if (!state.opened && state.after === 0 && messages.length && messages[0].id > 0) {
      var note = document.createElement("li");
      note.className = "note";
      note.textContent = T.history_note;
      $("log").appendChild(note);
    }
    state.opened = true;
    messages.forEach(function (message) {
      if (message.id > state.after) { render(message); state.after = message.id; }
    });
  }

  function failed(answer) {
    var data = answer.data || {};
    if (answer.status === 401) { locked(); return; }
    var text = T.not_sent;
    if (answer.status === 413) { text = say(T.too_big, { limit: config.maxUploadShown }); }
    if (answer.status === 429) { text = T.too_many; }
    $("chat-error").textContent = text;
    return data;
  }

  /* ---- live messages: WebSocket, or long polling where it is blocked -------------- */

  function startLive() {
    state.live += 1;
    state.failures = 0;
    if (state.polling || !("WebSocket" in window)) { poll(state.live); } else { connect(state.live); }
  }

  function stopLive() {
    state.live += 1;
    if (state.socket) { state.socket.close(); state.socket = null; }
  }

  function status(text) { $("status").textContent = text; }

  function retryLater(run, generation) {
    var wait = Math.min(10000, 500 * Math.pow(2, state.failures));
    state.failures += 1;
    status(T.offline);
    setTimeout(function () { if (generation === state.live) { run(generation); } }, wait);
  }

  function connect(generation) {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + "/api/live?after=" + state.after);
    var opened = false;
    state.socket = socket;
    socket.onopen = function () { opened = true; state.failures = 0; status(""); };
    socket.onmessage = function (event) { receive(JSON.parse(event.data)); };
    socket.onclose = function (event) {
      if (generation !== state.live) { return; }
      state.socket = null;
      if (event.code === 4001) { locked(); return; }
      if (!opened && state.failures >= 2) { state.polling = true; poll(generation); return; }
      retryLater(function (g) { sessionThen(function () { connect(g); }); }, generation);
    };
  }

  function poll(generation) {
    fetch("/api/poll?after=" + state.after, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (generation !== state.live) { return; }
        if (response.status === 401) { locked(); return; }
        if (!response.ok) { retryLater(poll, generation); return; }
        return response.json().then(function (data) {
          state.failures = 0;
          status("");
          receive(data);
          poll(generation);
        });
      }, function () { if (generation === state.live) { retryLater(poll, generation); } });
  }

  /* The session is checked before reconnecting: a restarted Haven still knows it. */
  function sessionThen(next) {
    post("/api/touch", {}, 0).then(function (answer) {
      if (answer.status === 401) { locked(); return; }
      next();
    }, next);
  }

  /* ---- sending ------------------------------------------------------------------ */

  function sendText(event) {
    event.preventDefault();
    var field = $("text");
    var text = field.value.trim();
    if (!text) { return; }
    field.value = "";
    $("chat-error").textContent = "";
    var mine = bubble("you", text);
    post("/api/message", { text: text, locale: config.locale }).then(function (answer) {
      if (!answer.ok) { failed(answer); mine.classList.add("unsent"); field.value = text; }
    }, function () { failed({}); mine.classList.add("unsent"); field.value = text; });
  }

  function upload(file, extra) {
    $("chat-error").textContent = "";
    if (file.size > config.maxUpload) {
      $("chat-error").textContent = say(T.too_big, { limit: config.maxUploadShown });
      return;
    }
    var box = $("progress");
    var bar = $("progress-bar");
    var label = $("progress-text");
    box.hidden = false;
    bar.value = 0;
    label.textContent = say(T.uploading, { name: file.name });
    var request = new XMLHttpRequest();
    request.open("POST", "/api/upload");
    var all = headers(requestId(), {
      "Content-Type": file.type || "application/octet-stream",
      "X-Haven-Name": encodeURIComponent(file.name),
      "X-Haven-Locale": config.locale
    });
    for (var key in extra) { all[key] = extra[key]; }
    for (var name in all) { request.setRequestHeader(name, all[name]); }
    request.upload.onprogress = function (event) {
      if (event.lengthComputable) { bar.value = Math.round(100 * event.loaded / event.total); }
    };
    request.onload = function () {
      if (request.status === 200) {
        bar.value = 100;
        label.textContent = say(T.uploaded, { name: file.name });
        bubble("you", say(T.sent_file, { name: file.name }));
      } else {
        box.hidden = true;
        failed({ status: request.status });
      }
    };
    request.onerror = function () { box.hidden = true; failed({}); };
    request.send(file);
  }

  function sendForward(event) {
    event.preventDefault();
    var who = $("forward-who").value.trim();
    var whenField = $("forward-when").value;
    var when = whenField ? new Date(whenField).toISOString() : "";
    var text = $("forward-text").value.trim();
    var shot = $("forward-shot").files[0];
    if (!text && !shot) { $("chat-error").textContent = T.empty_forward; return; }
    if (text) {
      bubble("you", (who ? who + ": " : "") + text);
      post("/api/forward", { who: who, when: when, text: text, locale: config.locale })
        .then(function (answer) { if (!answer.ok) { failed(answer); } }, function () { failed({}); });
    }
    if (shot) {
      upload(shot, { "X-Haven-Who": encodeURIComponent(who), "X-Haven-When": encodeURIComponent(when) });
    }
    closeForward();
  }

  /* The forward form takes the place of the message box while it is open. */
  function openForward() {
    $("forward").hidden = false;
    $("compose").hidden = true;
    $("tools").hidden = true;
    $("forward-who").focus();
  }

  function closeForward() {
    $("forward").reset();
    $("forward").hidden = true;
    $("compose").hidden = false;
    $("tools").hidden = false;
    $("open-forward").focus();
  }

  /* ---- notifications (Web Push), only when the person asks for them -------------- */

  /* Offered only where the browser can take them (not in WeChat's browser; on iOS only
     once the page is on the home screen). Nothing is asked and no service worker is
     registered before the person taps the control. */
  function pushOffered() {
    return !!config.pushKey && window.isSecureContext && "serviceWorker" in navigator &&
      "PushManager" in window && "Notification" in window &&
      Notification.permission !== "denied";
  }

  function keyBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var raw = atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes;
  }

  function registration() {
    return navigator.serviceWorker.getRegistration("/");
  }

  function showNotify(on) {
    state.notifying = on;
    $("notify").textContent = on ? T.notify_stop : T.notify;
    $("notify").hidden = false;
  }

  function setupNotify() {
    if (!pushOffered()) { return; }
    registration().then(function (found) {
      return found ? found.pushManager.getSubscription() : null;
    }).then(function (subscription) {
      showNotify(!!subscription && Notification.permission === "granted");
    }, function () { showNotify(false); });
  }

  /* Nothing of the attempt is left in the browser when it fails. */
  function forgetWorker() {
    registration().then(function (found) { if (found) { found.unregister(); } });
  }

  function notifyOn() {
    var note = $("notify-note");
    note.textContent = "";
    Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") {
        note.textContent = T.notify_denied;
        $("notify").hidden = permission === "denied";
        return;
      }
      return navigator.serviceWorker.register("/sw.js", { scope: "/" })
        .then(function () { return navigator.serviceWorker.ready; })
        .then(function (ready) {
          return ready.pushManager.subscribe({
            userVisibleOnly: true, applicationServerKey: keyBytes(config.pushKey)
          });
        })
        .then(function (subscription) {
          return post("/api/push", { subscription: subscription.toJSON(), locale: config.locale });
        })
        .then(function (answer) {
          if (answer.status === 401) { locked(); return; }
          if (!answer.ok) { throw new Error("refused"); }
          showNotify(true);
          note.textContent = T.notify_on;
        });
    }).catch(function () {
      note.textContent = T.notify_failed;
      forgetWorker();
    });
  }

  function notifyOff() {
    var note = $("notify-note");
    registration().then(function (found) {
      return found ? found.pushManager.getSubscription() : null;
    }).then(function (subscription) {
      if (!subscription) { return null; }
      var endpoint = subscription.endpoint;
      return subscription.unsubscribe().then(function () {
        return post("/api/push/off", { endpoint: endpoint });
      });
    }).then(function () {
      forgetWorker();
      showNotify(false);
      note.textContent = T.notify_off;
    }, function () { note.textContent = T.not_sent; });
  }

  /* ---- getting in and out ------------------------------------------------------- */

  function quickExit() {
    document.title = "";
    document.body.textContent = "";
    try {
      fetch("/api/lock", { method: "POST", keepalive: true, credentials: "same-origin",
                           headers: headers(requestId(), {}) });
    } catch (ignored) { /* leaving matters more than locking */ }
    location.replace(config.quickExit);
  }

  function lockNow() {
    post("/api/lock", {}).then(locked, locked);
  }

  function start() {
    $("welcome-error").textContent = "";
    post("/api/start", { locale: config.locale }).then(function (answer) {
      if (!answer.ok) {
        $("welcome-error").textContent = answer.status === 429 ? T.too_many : T.not_sent;
        return;
      }
      state.chat = answer.data.chat;
      $("code-value").textContent = answer.data.code;
      show("code");
    }, function () { $("welcome-error").textContent = T.not_sent; });
  }

  function savePassphrase(event) {
    event.preventDefault();
    var value = $("passphrase").value;
    if (value.length < 8) { $("passphrase-note").textContent = T.passphrase_short; return; }
    post("/api/passphrase", { passphrase: value }).then(function (answer) {
      if (answer.status === 401) { locked(); return; }
      $("passphrase").value = "";
      $("passphrase-note").textContent = answer.ok ? T.passphrase_saved : T.not_sent;
    });
  }

  function resume(event) {
    event.preventDefault();
    var error = $("resume-error");
    error.textContent = "";
    post("/api/resume", { code: $("resume-code").value, passphrase: $("resume-passphrase").value })
      .then(function (answer) {
        if (answer.ok) {
          $("resume-code").value = "";
          $("resume-passphrase").value = "";
          $("locked-note").hidden = true;
          enterChat(answer.data.chat);
          return;
        }
        if (answer.status === 429) {
          error.textContent = say(T.wait_code, { seconds: answer.data.seconds || 1 });
        } else {
          error.textContent = T.wrong_code;
        }
      }, function () { error.textContent = T.not_sent; });
  }

  /* ---- idle time ---------------------------------------------------------------- */

  function active() {
    state.lastActive = Date.now();
    if (state.chat && Date.now() - state.lastTouch > 60000) {
      state.lastTouch = Date.now();
      post("/api/touch", {}, 0).then(function (answer) { if (answer.status === 401) { locked(); } });
    }
  }

  setInterval(function () {
    if (state.chat && Date.now() - state.lastActive > config.idleSeconds * 1000) { lockNow(); }
  }, 15000);

  /* ---- wiring ------------------------------------------------------------------- */

  function on(id, kind, handler) { $(id).addEventListener(kind, handler); }

  on("exit", "click", quickExit);
  on("lock", "click", lockNow);
  on("start", "click", start);
  on("to-resume", "click", function () { $("locked-note").hidden = true; show("resume"); });
  on("resume-back", "click", function () { show("welcome"); });
  on("resume-form", "submit", resume);
  on("passphrase-form", "submit", savePassphrase);
  /* A chat just started has no earlier messages of the person's own to explain away:
     whatever Haven said while its code was on screen is shown with no note above it. */
  on("code-done", "click", function () { state.opened = true; enterChat(state.chat); });
  on("compose", "submit", sendText);
  on("text", "keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { sendText(event); }
  });
  on("file", "change", function () {
    var file = $("file").files[0];
    if (file) { upload(file, {}); }
    $("file").value = "";
  });
  on("open-forward", "click", openForward);
  on("forward-cancel", "click", closeForward);
  on("forward", "submit", sendForward);
  on("notify", "click", function () { if (state.notifying) { notifyOff(); } else { notifyOn(); } });
  on("switch", "click", function (event) {
    event.preventDefault();
    location.replace($("switch").href);  /* no history entry */
  });
  ["keydown", "pointerdown", "input"].forEach(function (kind) {
    document.addEventListener(kind, active, { passive: true });
  });

  function firstScreen(answer) {
    if (answer.ok) { enterChat(answer.data.chat); }
    else if (answer.data && answer.data.error === "locked") { locked(); }
    else { history.replaceState(null, "", "/"); show("welcome"); }
    state.ready = true;
  }

  post("/api/touch", {}, 0).then(firstScreen, function () { firstScreen({}); });
}());
