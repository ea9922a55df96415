// Chat page. The server's stored state is the truth: finished messages come from the REST API,
// unfinished ones from the `snapshot` frame, and every change after that from seq-ordered events.
// Rendering is idempotent, so a replayed event never shows anything twice.
(function () {
  "use strict";

  const T = JSON.parse(document.getElementById("chat-i18n").textContent);
  // Event names, button types and client frame types come from the server's contract (conversations/contracts.py).
  const C = JSON.parse(document.getElementById("chat-contract").textContent);
  const E = C.events;
  const messagesEl = document.getElementById("messages");
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const stopButton = document.getElementById("stop-button");
  const stateEl = document.getElementById("connection-state");
  const formError = document.getElementById("form-error");
  const recentEl = document.getElementById("recent-searches");
  const savedEl = document.getElementById("saved-codes");

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
      const buttons = el("div", "buttons"); // slots appear only while a preparation task is pending
      buttons.hidden = true;
      node.appendChild(buttons);
      node.appendChild(el("div", "follow-up"));
      node.appendChild(el("div", "bookmark"));
      node.appendChild(el("div", "notice"));
      const answer = el("div", "answer");
      answer.hidden = true;
      answer.appendChild(el("div", "who", T.assistant));
      answer.appendChild(el("div", "answer-text"));
      node.appendChild(answer);
      messagesEl.appendChild(node);
      v = { node: node, answerBaseSeq: 0, answerDone: false, answerId: null, feedback: null, feedbackSent: false };
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
    renderFeedback(v);
  }

  function sendFrame(frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      formError.textContent = T.sendFailed;
      formError.hidden = false;
      return false;
    }
    socket.send(JSON.stringify(frame));
    return true;
  }

  function sendFeedback(v, vote, reason) {
    const status = v.node.querySelector(".feedback-status");
    if (status) status.textContent = ""; // until the server confirms this one
    if (sendFrame({ type: C.frames.feedback, message_id: v.answerId, vote: vote, reason: vote ? reason : "" })) {
      v.feedbackSent = true;
    }
  }

  // 👍/👎 under a finished answer, with an optional reason; the state shown is the stored one (REST on load,
  // then answer_feedback events), never a guess made before the server confirmed it.
  function buildFeedback(v) {
    const box = el("div", "feedback");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", T.feedbackQuestion);
    box.appendChild(el("span", "feedback-question muted", T.feedbackQuestion));
    [[C.feedbackVotes[0], "👍", T.feedbackUp], [C.feedbackVotes[1], "👎", T.feedbackDown]].forEach(function (spec) {
      // The word beside the emoji: a system without an emoji font still shows what the button does.
      const button = el("button", "feedback-vote");
      const icon = el("span", "feedback-icon", spec[1]);
      icon.setAttribute("aria-hidden", "true");
      button.append(icon, " " + spec[2]);
      button.type = "button";
      button.dataset.vote = spec[0];
      button.setAttribute("aria-pressed", "false");
      button.setAttribute("aria-label", spec[2]);
      button.title = spec[2];
      button.addEventListener("click", function () {
        const current = v.feedback ? v.feedback.vote : null;
        // Pressing the vote that stands withdraws it.
        sendFeedback(v, current === spec[0] ? null : spec[0], box.querySelector("textarea").value.trim());
      });
      box.appendChild(button);
    });
    const reasonForm = el("form", "feedback-reason");
    reasonForm.hidden = true;
    const fieldId = "feedback-reason-" + v.answerId;
    const label = el("label", null, T.feedbackReason);
    label.htmlFor = fieldId;
    const reason = el("textarea");
    reason.id = fieldId;
    reason.rows = 2;
    reason.maxLength = C.feedbackReasonMax;
    reason.placeholder = T.feedbackReasonPlaceholder;
    const send = el("button", "secondary feedback-send", T.feedbackSend);
    send.type = "submit";
    reasonForm.append(label, reason, send);
    reasonForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!v.feedback) return;
      if (v.feedback.reason === reason.value.trim()) { // already stored: the server would announce nothing
        box.querySelector(".feedback-status").textContent = T.feedbackSaved;
        return;
      }
      sendFeedback(v, v.feedback.vote, reason.value.trim());
    });
    box.appendChild(reasonForm);
    const status = el("span", "feedback-status muted");
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    box.appendChild(status);
    return box;
  }

  function renderFeedback(v, confirmed) {
    const answer = v.node.querySelector(".answer");
    let box = answer.querySelector(".feedback");
    if (!v.answerDone || !v.answerId) {
      if (box) box.hidden = true;
      return;
    }
    if (!box) {
      box = buildFeedback(v);
      answer.appendChild(box);
    }
    answer.dataset.answerId = v.answerId;
    box.hidden = false;
    const vote = v.feedback ? v.feedback.vote : null;
    box.querySelectorAll(".feedback-vote").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.dataset.vote === vote));
    });
    const reasonForm = box.querySelector(".feedback-reason");
    reasonForm.hidden = !vote;
    const reason = reasonForm.querySelector("textarea");
    if (document.activeElement !== reason || confirmed) reason.value = v.feedback ? v.feedback.reason : "";
    if (confirmed && v.feedbackSent) {
      box.querySelector(".feedback-status").textContent = vote ? T.feedbackSaved : T.feedbackWithdrawn;
      v.feedbackSent = false;
    }
  }

  function updateStop() {
    let streaming = false;
    views.forEach(function (v) { if (!v.answerDone && !v.node.querySelector(".answer").hidden) streaming = true; });
    stopButton.hidden = !streaming;
  }

  function inLanguage(byLanguage, fallback) {
    return (byLanguage && byLanguage[T.lang]) || fallback || [];
  }

  // A preparation started: one pending slot per button type, replacing whatever was shown before.
  function startButtons(v) {
    const buttons = v.node.querySelector(".buttons");
    buttons.replaceChildren();
    C.buttonTypes.forEach(function (type) {
      const slot = el("div", "button-slot pending");
      slot.dataset.buttonType = type;
      slot.appendChild(el("span", "spinner"));
      slot.appendChild(el("span", "label", T.preparing));
      buttons.appendChild(slot);
    });
    buttons.hidden = false;
    v.node.querySelector(".follow-up").replaceChildren();
    v.node.querySelector(".notice").replaceChildren();
    v.node.querySelector(".bookmark").replaceChildren();
  }

  function isSaved(code) {
    return !!(savedEl && savedEl.querySelector('li[data-code="' + CSS.escape(code) + '"]'));
  }

  // The seed 002 sse_bookmark_data offered as a visible action: save the code as 관심 품목.
  function renderBookmark(v, offer) {
    const box = v.node.querySelector(".bookmark");
    box.replaceChildren();
    if (!offer || !offer.target_value) return;
    const action = el("button", "secondary bookmark-action");
    action.type = "button";
    action.dataset.code = offer.target_value;
    const saved = isSaved(offer.target_value);
    action.textContent = saved ? T.bookmarked : T.bookmark;
    action.disabled = saved;
    action.addEventListener("click", function () {
      if (!socket || socket.readyState !== WebSocket.OPEN) {
        formError.textContent = T.sendFailed;
        formError.hidden = false;
        return;
      }
      socket.send(JSON.stringify({ type: C.frames.bookmark, message_id: Number(v.node.dataset.messageId) }));
    });
    box.appendChild(action);
  }

  function addSaved(data) {
    if (!savedEl) return;
    const empty = savedEl.querySelector(".empty");
    if (empty) empty.remove();
    if (!isSaved(data.target_value)) {
      const item = el("li");
      item.dataset.code = data.target_value;
      const link = el("a", null, data.target_value);
      link.href = "/detail/hscode/" + encodeURIComponent(data.target_value) + "/";
      item.appendChild(link);
      if (data.display_name) item.appendChild(el("small", "muted", " " + data.display_name));
      savedEl.prepend(item);
    }
    document.querySelectorAll('.bookmark-action[data-code="' + CSS.escape(data.target_value) + '"]').forEach(
      function (action) { action.textContent = T.bookmarked; action.disabled = true; });
  }

  // No task is pending any more: no spinner may stay.
  function endButtons(v) {
    const buttons = v.node.querySelector(".buttons");
    buttons.querySelectorAll(".button-slot.pending").forEach(function (slot) { slot.remove(); });
    buttons.hidden = buttons.children.length === 0;
  }

  function renderCandidate(v, b) {
    const buttons = v.node.querySelector(".buttons");
    buttons.querySelectorAll(".button-slot.pending").forEach(function (slot) { slot.remove(); });
    buttons.hidden = false;
    let slot = buttons.querySelector('.candidate[data-hscode="' + CSS.escape(b.hscode) + '"]');
    if (!slot) {
      slot = el("div", "button-slot ready candidate");
      slot.dataset.hscode = b.hscode;
      buttons.appendChild(slot);
    }
    slot.replaceChildren();
    slot.style.order = String(b.priority || 0);
    const name = T.lang === "en" ? (b.nameEn || b.nameKo) : (b.nameKo || b.nameEn);
    const link = el("a", "detail-button candidate-link", b.hscode + " " + (name || ""));
    link.href = b.url;
    link.dataset.buttonType = b.buttonType;
    slot.appendChild(link);
    slot.appendChild(el("small", "muted", T.candidate + " " + b.priority + " · " + T.confidence + " " +
      Math.round((b.confidence || 0) * 100) + "%"));
    const choose = el("button", "secondary choose", T.chooseThis);
    choose.type = "button";
    choose.dataset.hscode = b.hscode;
    choose.addEventListener("click", function () {
      if (!socket || socket.readyState !== WebSocket.OPEN) {
        formError.textContent = T.sendFailed;
        formError.hidden = false;
        return;
      }
      socket.send(JSON.stringify({ type: C.frames.choose, message_id: Number(v.node.dataset.messageId),
        hscode: b.hscode }));
    });
    slot.appendChild(choose);
  }

  function renderButton(v, data) {
    const meta = data.metadata || {};
    if (data.candidate || meta.candidate) {
      renderCandidate(v, {
        buttonType: data.buttonType, url: data.url, priority: data.priority,
        hscode: data.hscode || meta.hscode, confidence: data.confidence !== undefined ? data.confidence : meta.confidence,
        nameKo: data.nameKo || meta.nameKo, nameEn: data.nameEn || meta.nameEn,
      });
      return;
    }
    const buttons = v.node.querySelector(".buttons");
    buttons.hidden = false;
    let slot = buttons.querySelector('.button-slot[data-button-type="' + data.buttonType + '"]');
    if (!slot) {
      slot = el("div", "button-slot");
      slot.dataset.buttonType = data.buttonType;
      buttons.appendChild(slot);
    }
    slot.replaceChildren();
    slot.className = "button-slot ready";
    slot.style.order = String(data.priority || 0);
    const link = el("a", "detail-button", T.buttonTitles[data.buttonType] || data.title);
    link.href = data.url;
    link.dataset.buttonType = data.buttonType;
    slot.appendChild(link);
    const description = T.buttonDescriptions[data.buttonType] || data.description;
    if (description) slot.appendChild(el("small", "muted", description));
  }

  function renderFollowUp(v, questions) {
    const box = v.node.querySelector(".follow-up");
    box.replaceChildren();
    if (!questions || !questions.length) return;
    box.appendChild(el("strong", null, T.followUp));
    const list = el("ul", "questions");
    questions.forEach(function (q) { list.appendChild(el("li", null, q)); });
    box.appendChild(list);
  }

  function renderNoCode(v, suggestions) {
    const buttons = v.node.querySelector(".buttons");
    buttons.replaceChildren();
    buttons.hidden = true;
    const notice = v.node.querySelector(".notice");
    notice.replaceChildren(el("strong", null, T.noHscode));
    const list = el("ul", "suggestions");
    (suggestions || []).forEach(function (s) { list.appendChild(el("li", null, s)); });
    notice.appendChild(list);
    notice.className = "notice notice-warn";
    v.node.querySelector(".status").textContent = "";
  }

  function renderFallback(v, message) {
    const notice = v.node.querySelector(".notice");
    notice.textContent = T.fallback + (message ? " (" + message + ")" : "");
    notice.className = "notice notice-warn";
  }

  function renderDetected(v, code, confidence, byPerson) {
    const status = v.node.querySelector(".status");
    if (!code) { status.textContent = ""; return; }
    status.textContent = (byPerson ? T.chosen : T.detected) + ": " + code +
      (confidence !== undefined && !byPerson ? " (" + T.confidence + " " + Math.round(confidence * 100) + "%)" : "");
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
      if (m.status === "analysing" || m.status === "pending") startButtons(v);
      (m.buttons || []).forEach(function (b) { renderButton(v, storedButton(b)); });
      if (m.answer) setAnswer(v, m.answer.content, m.answer.status !== "streaming");
      v.answerBaseSeq = frame.last_seq; // its text already holds every delta up to here
    });
  }

  function applyFrame(frame) {
    if (frame.event === E.error) {
      formError.textContent = frame.data.message;
      formError.hidden = false;
      return;
    }
    if (frame.event === E.snapshot) { applySnapshot(frame); return; }
    if (frame.event === E.replayMore) {
      // The replay was cut at the server's page size: ask for the next page.
      if (socket) socket.send(JSON.stringify({ type: C.frames.resync, after: frame.data.after }));
      return;
    }
    if (typeof frame.seq !== "number" || frame.seq <= lastSeq) return; // already applied
    if (frame.seq > lastSeq + 1 && lastSeq > 0 && socket) {
      // A gap: ask the server to replay from what we have (it answers with a snapshot and the events).
      socket.send(JSON.stringify({ type: C.frames.resync, after: lastSeq }));
    }
    lastSeq = frame.seq;
    if (!frame.message_id) return;
    const v = view(frame.message_id);
    const status = v.node.querySelector(".status");
    const data = frame.data;
    switch (frame.event) {
      case E.messageCreated:
        v.node.querySelector(".content").textContent = data.content;
        break;
      case E.thinking:
        status.textContent = T.thinking;
        break;
      case E.buttonsStart:
        startButtons(v);
        status.textContent = T.preparing;
        break;
      case E.buttonReady:
        renderButton(v, data);
        break;
      case E.buttonsComplete:
        endButtons(v);
        renderDetected(v, data.summary.hscode_detected, data.summary.confidence_score, data.chosenBy === "person");
        renderFollowUp(v, inLanguage(data.followUpByLanguage));
        renderBookmark(v, data.bookmark);
        addRecent(data.summary.hscode_detected);
        break;
      case E.buttonsError:
        if (data.errorCode === C.noHscode) {
          renderNoCode(v, inLanguage(data.suggestionsByLanguage, data.suggestions));
        } else {
          // With fallback the buttons still come; without it the track ends here with the server's message.
          if (data.fallbackActivated) renderFallback(v, data.errorMessage);
          else {
            const notice = v.node.querySelector(".notice");
            notice.textContent = data.errorMessage;
            notice.className = "notice notice-warn";
          }
        }
        break;
      case E.bookmarkSaved:
        addSaved(data);
        break;
      case E.answerDelta:
        if (frame.seq > v.answerBaseSeq && !v.answerDone) {
          setAnswer(v, v.node.querySelector(".answer-text").textContent + data.delta, false);
        }
        break;
      case E.answerFeedback:
        v.answerId = data.assistant_message_id;
        v.feedback = data.vote ? { vote: data.vote, reason: data.reason } : null;
        renderFeedback(v, true);
        break;
      case E.answerComplete:
        v.answerId = data.assistant_message_id;
        setAnswer(v, data.content, true);
        if (data.stopped) v.node.querySelector(".answer").appendChild(el("small", "muted", T.stopped));
        break;
    }
  }

  function storedButton(b) {
    return { buttonType: b.type, url: b.url, title: b.title, description: b.description, priority: b.priority,
      candidate: b.candidate, hscode: b.hscode, confidence: b.confidence, nameKo: b.nameKo, nameEn: b.nameEn };
  }

  // The same picture a live viewer has, drawn from the stored analysis (reload, second tab, reconnect).
  function renderStoredAnalysis(v, status, analysis) {
    if (status === "pending" || status === "analysing") startButtons(v);
    if (!analysis) return;
    if (analysis.fallback_used) renderFallback(v, "");
    (analysis.detail_buttons || []).forEach(function (b) { renderButton(v, storedButton(b)); });
    if (status === "failed" && !analysis.resolved) {
      renderNoCode(v, inLanguage((analysis.no_hscode || {}).suggestionsByLanguage));
    }
    if (status === "completed") {
      renderDetected(v, analysis.detected_hscode, analysis.classification_confidence,
        analysis.analysis_source === "person");
      if (!analysis.resolved) renderFollowUp(v, inLanguage(analysis.follow_up));
    }
  }

  function renderStored(messages) {
    const answers = new Map();
    messages.forEach(function (m) { if (m.role === "assistant" && m.reply_to) answers.set(m.reply_to, m); });
    messages.filter(function (m) { return m.role === "user"; }).forEach(function (m) {
      const v = view(m.id);
      v.node.querySelector(".content").textContent = m.content;
      renderStoredAnalysis(v, m.status, m.hscode_analysis);
      const bookmark = m.sse_bookmark_data;
      if (m.status === "completed" && bookmark && bookmark.bookmark_available) renderBookmark(v, bookmark);
      const answer = answers.get(m.id);
      if (answer) {
        v.answerId = answer.id;
        v.feedback = answer.feedback ? { vote: answer.feedback.vote, reason: answer.feedback.reason } : null;
        setAnswer(v, answer.content, answer.status !== "streaming");
      }
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
        console.error("conversation load failed", e);
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
    socket.send(JSON.stringify({ type: C.frames.message, message: text }));
    input.value = "";
  });

  stopButton.addEventListener("click", function () {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: C.frames.stop }));
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
