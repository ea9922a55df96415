// Chat page. The server's stored state is the truth: finished messages come from the REST API,
// unfinished ones from the `snapshot` frame, and every change after that from seq-ordered events.
// Rendering is idempotent, so a replayed event never shows anything twice.
(function () {
  "use strict";

  const T = JSON.parse(document.getElementById("chat-i18n").textContent);
  const messagesEl = document.getElementById("messages");
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const stopButton = document.getElementById("stop-button");
  const stateEl = document.getElementById("connection-state");
  const formError = document.getElementById("form-error");
  const recentEl = document.getElementById("recent-searches");
  const BUTTON_TYPES = ["HS_CODE", "REGULATION", "STATISTICS"];

  let conversationId = null;
  let socket = null;
  let retry = 0;
  let lastSeq = 0;
  const views = new Map(); // message id -> {node, answerBaseSeq, answerDone}

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function api(path, options) {
    const response = await fetch(path, Object.assign({
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    }, options || {}));
    if (!response.ok) throw new Error(path + " " + response.status);
    return response.json();
  }

  function setState(kind, text) {
    stateEl.className = "conn conn-" + kind;
    stateEl.textContent = text;
    stateEl.dataset.state = kind;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text; // never innerHTML: all text is untrusted
    return node;
  }

  function view(messageId) {
    let v = views.get(messageId);
    if (!v) {
      const node = el("li", "message");
      node.dataset.messageId = messageId;
      node.appendChild(el("div", "who", T.you));
      node.appendChild(el("div", "content"));
      node.appendChild(el("div", "status muted"));
      const buttons = el("div", "buttons");
      BUTTON_TYPES.forEach(function (type) {
        const slot = el("div", "button-slot pending");
        slot.dataset.buttonType = type;
        slot.appendChild(el("span", "spinner"));
        slot.appendChild(el("span", "label", T.preparing));
        buttons.appendChild(slot);
      });
      buttons.hidden = true;
      node.appendChild(buttons);
      node.appendChild(el("div", "notice"));
      const answer = el("div", "answer");
      answer.hidden = true;
      answer.appendChild(el("div", "who", T.assistant));
      answer.appendChild(el("div", "answer-text"));
      node.appendChild(answer);
      messagesEl.appendChild(node);
      v = { node: node, answerBaseSeq: 0, answerDone: false };
      views.set(messageId, v);
    }
    return v;
  }

  function setAnswer(v, text, done) {
    const answer = v.node.querySelector(".answer");
    answer.hidden = !text && !done;
    answer.querySelector(".answer-text").textContent = text;
    v.answerDone = v.answerDone || done;
    answer.dataset.state = v.answerDone ? "complete" : "streaming";
    updateStop();
  }

  function updateStop() {
    let streaming = false;
    views.forEach(function (v) { if (!v.answerDone && !v.node.querySelector(".answer").hidden) streaming = true; });
    stopButton.hidden = !streaming;
  }

  function renderButton(v, data) {
    const buttons = v.node.querySelector(".buttons");
    buttons.hidden = false;
    const slot = buttons.querySelector('[data-button-type="' + data.buttonType + '"]');
    if (!slot) return;
    slot.replaceChildren();
    slot.className = "button-slot ready";
    slot.style.order = String(data.priority || 0);
    const link = el("a", "detail-button", data.title);
    link.href = data.url;
    link.dataset.buttonType = data.buttonType;
    slot.appendChild(link);
    if (data.description) slot.appendChild(el("small", "muted", data.description));
  }

  function renderNoCode(v, suggestions) {
    v.node.querySelector(".buttons").hidden = true;
    const notice = v.node.querySelector(".notice");
    notice.replaceChildren(el("strong", null, T.noHscode));
    const list = el("ul", "suggestions");
    (suggestions || []).forEach(function (s) { list.appendChild(el("li", null, s)); });
    notice.appendChild(list);
    notice.className = "notice notice-warn";
    v.node.querySelector(".status").textContent = "";
  }

  function renderDetected(v, code, confidence) {
    const status = v.node.querySelector(".status");
    status.textContent = code ? T.detected + ": " + code +
      (confidence !== undefined ? " (" + T.confidence + " " + Math.round(confidence * 100) + "%)" : "") : "";
  }

  function addRecent(code) {
    if (!code || !recentEl) return;
    const existing = recentEl.querySelector('[data-code="' + CSS.escape(code) + '"]');
    if (existing) existing.remove();
    const item = el("li");
    item.dataset.code = code;
    const link = el("a", null, code);
    link.href = "/detail/hscode/" + encodeURIComponent(code) + "/";
    item.appendChild(link);
    recentEl.prepend(item);
    while (recentEl.children.length > 20) recentEl.lastElementChild.remove();
  }

  function applySnapshot(frame) {
    frame.data.messages.forEach(function (m) {
      const v = view(m.message_id);
      v.node.querySelector(".content").textContent = m.content;
      (m.buttons || []).forEach(function (b) {
        renderButton(v, { buttonType: b.type, url: b.url, title: b.title, priority: b.priority });
      });
      if (m.status === "analysing") v.node.querySelector(".buttons").hidden = false;
      if (m.answer) setAnswer(v, m.answer.content, m.answer.status !== "streaming");
      v.answerBaseSeq = frame.last_seq; // its text already holds every delta up to here
    });
  }

  function applyFrame(frame) {
    if (frame.event === "error") {
      formError.textContent = frame.data.message;
      formError.hidden = false;
      return;
    }
    if (frame.event === "snapshot") { applySnapshot(frame); return; }
    if (frame.event === "replay_more") {
      // The replay was cut at the server's page size: ask for the next page.
      if (socket) socket.send(JSON.stringify({ type: "resync", after: frame.data.after }));
      return;
    }
    if (typeof frame.seq !== "number" || frame.seq <= lastSeq) return; // already applied
    if (frame.seq > lastSeq + 1 && lastSeq > 0 && socket) {
      // A gap: ask the server to replay from what we have (it answers with a snapshot and the events).
      socket.send(JSON.stringify({ type: "resync", after: lastSeq }));
    }
    lastSeq = frame.seq;
    if (!frame.message_id) return;
    const v = view(frame.message_id);
    const status = v.node.querySelector(".status");
    const data = frame.data;
    switch (frame.event) {
      case "message_created":
        v.node.querySelector(".content").textContent = data.content;
        break;
      case "thinking":
        status.textContent = T.thinking;
        break;
      case "detail_page_buttons_start":
        v.node.querySelector(".buttons").hidden = false;
        status.textContent = T.preparing;
        break;
      case "detail_page_button_ready":
        renderButton(v, data);
        break;
      case "detail_page_buttons_complete":
        renderDetected(v, data.summary.hscode_detected, data.summary.confidence_score);
        addRecent(data.summary.hscode_detected);
        break;
      case "detail_page_buttons_error":
        if (data.errorCode === "NO_HSCODE_DETECTED") {
          renderNoCode(v, data.suggestions);
        } else {
          // With fallback the buttons still come; without it the track ends here with the server's message.
          const notice = v.node.querySelector(".notice");
          notice.textContent = data.fallbackActivated ? T.fallback + " (" + data.errorMessage + ")" : data.errorMessage;
          notice.className = "notice notice-warn";
        }
        break;
      case "answer_delta":
        if (frame.seq > v.answerBaseSeq && !v.answerDone) {
          setAnswer(v, v.node.querySelector(".answer-text").textContent + data.delta, false);
        }
        break;
      case "answer_complete":
        setAnswer(v, data.content, true);
        if (data.stopped) v.node.querySelector(".answer").appendChild(el("small", "muted", T.stopped));
        break;
    }
  }

  function renderStored(messages) {
    const answers = new Map();
    messages.forEach(function (m) { if (m.role === "assistant" && m.reply_to) answers.set(m.reply_to, m); });
    messages.filter(function (m) { return m.role === "user"; }).forEach(function (m) {
      const v = view(m.id);
      v.node.querySelector(".content").textContent = m.content;
      const analysis = m.hscode_analysis;
      if (analysis) {
        (analysis.detail_buttons || []).forEach(function (b) {
          renderButton(v, { buttonType: b.type, url: b.url, title: b.title, priority: b.priority });
        });
        if (m.status === "failed" && !analysis.resolved) renderNoCode(v, []);
        if (m.status === "completed") renderDetected(v, analysis.detected_hscode, analysis.classification_confidence);
      }
      const answer = answers.get(m.id);
      if (answer) setAnswer(v, answer.content, answer.status !== "streaming");
    });
  }

  async function loadConversation() {
    const params = new URLSearchParams(location.search);
    conversationId = params.get("c") || localStorage.getItem("tradechat.conversation");
    if (conversationId) {
      try {
        // The seq first, then the messages: whatever happens in between is replayed after it.
        const conversation = await api("/api/conversations/" + conversationId + "/");
        // Every page (the API serves at most API_MAX_PAGE_SIZE rows at a time), followed by its `next` link.
        const stored = [];
        let next = "/api/conversations/" + conversationId + "/messages/?limit=100";
        while (next) {
          const page = await api(next);
          stored.push.apply(stored, page.results);
          next = page.next ? new URL(page.next, location.href).pathname + new URL(page.next, location.href).search
            : null;
        }
        messagesEl.replaceChildren();
        views.clear();
        renderStored(stored);
        lastSeq = conversation.last_seq;
        localStorage.setItem("tradechat.conversation", conversationId);
        return;
      } catch (e) {
        conversationId = null; // gone or not ours: start a new one
      }
    }
    await newConversation();
  }

  async function newConversation() {
    const created = await api("/api/conversations/", { method: "POST", body: "{}" });
    conversationId = created.id;
    localStorage.setItem("tradechat.conversation", conversationId);
    messagesEl.replaceChildren();
    views.clear();
    lastSeq = 0;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    setState("connecting", T.connecting);
    const ws = new WebSocket(scheme + location.host + "/ws/chat/" + conversationId + "/?after=" + lastSeq);
    socket = ws;
    ws.onopen = function () { retry = 0; setState("open", T.connected); };
    ws.onmessage = function (event) {
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      applyFrame(frame);
    };
    ws.onclose = function () {
      if (socket !== ws) return; // replaced on purpose
      socket = null;
      setState("closed", T.reconnecting);
      const delay = Math.min(10000, 500 * Math.pow(2, retry++)) * (0.5 + Math.random() / 2);
      setTimeout(connect, delay);
    };
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value.trim();
    formError.hidden = true;
    if (!text) return;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      formError.textContent = T.sendFailed;
      formError.hidden = false;
      return;
    }
    socket.send(JSON.stringify({ type: "chat.message", message: text }));
    input.value = "";
  });

  stopButton.addEventListener("click", function () {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "chat.stop" }));
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  document.getElementById("new-conversation").addEventListener("click", function () {
    history.replaceState(null, "", location.pathname);
    newConversation().then(function () {
      const old = socket;
      socket = null;
      if (old) old.close();
      connect();
    });
  });

  loadConversation().then(connect, function () { setState("closed", T.sendFailed); });
})();
