// The yolk chat page: group chat, private chats, nicknames, typing, emoji, voice messages.
// Plain browser JavaScript, no build step. Everything a user typed is shown with
// textContent, never as HTML.
//
// Wire protocol (see the README): the tutorial's `exchange` / `online` / '群聊' / events
// named by socket ids, plus this demo's `nickname`, `users`, `typing` and `voice`.
(function () {
  'use strict';

  var GROUP = '群聊';
  var TYPING_IDLE_MS = 2500;   // we say "stopped typing" after this long without a key
  var TYPING_SHOW_MS = 6000;   // a peer's indicator expires if its "stopped" never comes
  var VOICE_MAX_MS = 30000;
  var EMOJI = ['😀', '😂', '😊', '😍', '😎', '🤔', '😅', '😭', '😡', '👍', '👎', '👏',
    '🙏', '💪', '🎉', '🔥', '❤️', '💯', '✅', '❌', '👋', '🥚', '🍳', '☕', '🍺', '🌟',
    '🚀', '🐛', '💡', '⏰', '🙈', '🤝'];

  var params = new URLSearchParams(location.search);
  var room = params.get('room') || 'demo';

  var $ = function (id) { return document.getElementById(id); };
  var el = function (tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  };

  // ---- state ----
  var socket = null;
  var myId = null;
  var myListener = null;         // handler bound to the event named by our own id
  var myNick = null;
  var users = [];                // [{ id, nickname }] in join order, from `users`
  var names = {};                // id -> last known nickname (kept after they leave)
  var convs = {};                // key (GROUP or peer id) -> { messages: [], unread: 0 }
  var active = GROUP;
  var typingPeers = {};          // key -> { clientId: timer }
  var typingSent = null;         // target we told "typing: true", or null
  var typingTimer = null;
  var recorder = null;

  function conv(key) {
    if (!convs[key]) convs[key] = { messages: [], unread: 0 };
    return convs[key];
  }
  function isOnline(id) {
    return users.some(function (u) { return u.id === id; });
  }
  function nameOf(id) {
    if (id === myId && myNick) return myNick;
    return names[id] || ('User ' + String(id).slice(0, 6));
  }
  function initial(name) {
    var chars = Array.from(String(name).trim());
    return (chars[0] || '?').toUpperCase();
  }
  function hue(s) {
    var h = 0;
    for (var i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) % 360;
    return h;
  }
  function timeText(ts) {
    var d = new Date(ts || Date.now());
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  // ---- rendering ----
  function avatar(id, name) {
    var a = el('span', 'avatar', id === GROUP ? '#' : initial(name));
    a.style.background = id === GROUP ? '#f5b301' : 'hsl(' + hue(String(id)) + ', 55%, 52%)';
    return a;
  }

  function renderContacts() {
    var list = $('contacts');
    var filter = $('search').value.trim().toLowerCase();
    list.textContent = '';
    var keys = [GROUP];
    users.forEach(function (u) { if (u.id !== myId) keys.push(u.id); });
    // Private chats with people who left stay visible (greyed) while they hold messages.
    Object.keys(convs).forEach(function (k) {
      if (keys.indexOf(k) < 0 && k !== myId && convs[k].messages.length) keys.push(k);
    });
    var totalUnread = 0;
    keys.forEach(function (key) {
      var c = conv(key);
      totalUnread += c.unread;
      var label = key === GROUP ? 'Group chat' : nameOf(key);
      if (filter && key !== GROUP && label.toLowerCase().indexOf(filter) < 0) return;
      var li = el('li', 'contact');
      li.dataset.key = key;
      if (key === active) li.classList.add('active');
      if (key !== GROUP && !isOnline(key)) li.classList.add('offline');
      li.appendChild(avatar(key, label));
      var body = el('div', 'contact-body');
      body.appendChild(el('div', 'contact-name', label));
      var last = c.messages[c.messages.length - 1];
      var preview = key === GROUP ? (users.length + ' online') : (isOnline(key) ? 'online' : 'offline');
      if (typingIn(key)) preview = 'typing…';
      else if (last && !last.system) preview = (last.mine ? 'You: ' : '') + (last.voice ? '🎤 Voice message' : last.text);
      body.appendChild(el('div', 'contact-preview', preview));
      li.appendChild(body);
      if (c.unread) li.appendChild(el('span', 'badge', c.unread > 99 ? '99+' : String(c.unread)));
      li.addEventListener('click', function () { select(key); });
      list.appendChild(li);
    });
    document.title = (totalUnread ? '(' + totalUnread + ') ' : '') + 'yolk chat';
    $('room-info').textContent = 'Room “' + room + '” · ' + users.length + ' online';
  }

  function messageNode(m) {
    if (m.system) return el('li', 'system', m.text);
    var li = el('li', 'msg' + (m.mine ? ' mine' : ''));
    if (!m.mine) li.appendChild(avatar(m.from, nameOf(m.from)));
    var bubble = el('div', 'bubble');
    if (!m.mine && active === GROUP) bubble.appendChild(el('div', 'from', nameOf(m.from)));
    if (m.voice) {
      var audio = document.createElement('audio');
      audio.controls = true;
      audio.preload = 'metadata';
      audio.src = m.voice;
      audio.className = 'voice';
      bubble.appendChild(audio);
      if (m.duration) bubble.appendChild(el('span', 'duration', (m.duration / 1000).toFixed(1) + ' s'));
    } else {
      bubble.appendChild(el('div', 'text', m.text));
    }
    var meta = el('div', 'time', timeText(m.time));
    if (m.failed) { meta.textContent += ' · not delivered'; li.classList.add('failed'); }
    bubble.appendChild(meta);
    li.appendChild(bubble);
    return li;
  }

  function renderMessages() {
    var box = $('messages');
    box.textContent = '';
    conv(active).messages.forEach(function (m) { box.appendChild(messageNode(m)); });
    box.scrollTop = box.scrollHeight;
  }

  function renderHeader() {
    var online = active === GROUP || isOnline(active);
    $('chat-title').textContent = active === GROUP ? 'Group chat' : nameOf(active);
    $('chat-sub').textContent = active === GROUP
      ? users.map(function (u) { return nameOf(u.id); }).join(', ')
      : (online ? 'private chat · online' : 'private chat · offline');
    $('text').disabled = !online || !myId;
    $('send').disabled = !online || !myId;
    $('mic').disabled = !online || !myId || !window.MediaRecorder;
  }

  function typingIn(key) {
    return typingPeers[key] && Object.keys(typingPeers[key]).length > 0;
  }

  function renderTyping() {
    var who = Object.keys(typingPeers[active] || {}).map(nameOf);
    var t = $('typing');
    t.textContent = who.length === 0 ? ''
      : who.length === 1 ? who[0] + ' is typing…'
      : who.slice(0, -1).join(', ') + ' and ' + who[who.length - 1] + ' are typing…';
  }

  function renderAll() {
    renderContacts();
    renderHeader();
    renderMessages();
    renderTyping();
    $('me-name').textContent = myNick || '…';
  }

  function addMessage(key, m) {
    var c = conv(key);
    c.messages.push(m);
    if (key === active) {
      var box = $('messages');
      var stick = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
      box.appendChild(messageNode(m));
      if (stick || m.mine) box.scrollTop = box.scrollHeight;
    } else if (!m.system) {
      c.unread++;
    }
    renderContacts();
  }

  function select(key) {
    stopTyping();
    active = key;
    conv(key).unread = 0;
    renderAll();
    $('text').focus();
  }

  function setStatus(kind, text) {
    var s = $('status');
    s.className = 'status ' + kind;
    s.querySelector('span').textContent = text;
  }

  // ---- typing ----
  function setPeerTyping(key, client, on) {
    typingPeers[key] = typingPeers[key] || {};
    var peers = typingPeers[key];
    if (peers[client]) { clearTimeout(peers[client]); delete peers[client]; }
    if (on) {
      peers[client] = setTimeout(function () { setPeerTyping(key, client, false); }, TYPING_SHOW_MS);
    }
    if (key === active) renderTyping();
    renderContacts();
  }

  function stopTyping() {
    clearTimeout(typingTimer);
    typingTimer = null;
    if (typingSent !== null && socket) socket.emit('typing', { target: typingSent, typing: false });
    typingSent = null;
  }

  function onInput() {
    if (!socket || !$('text').value) { stopTyping(); return; }
    if (typingSent !== active) {
      stopTyping();
      typingSent = active;
      socket.emit('typing', { target: active, typing: true });
    }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  // ---- sending ----
  function sendText(e) {
    e.preventDefault();
    var input = $('text');
    var text = input.value.trim();
    if (!text || !socket) return;
    stopTyping();
    var target = active;
    var m = { mine: true, from: myId, text: text, time: Date.now() };
    addMessage(target, m);
    input.value = '';
    // The tutorial's message format: exchange { target, payload: { msg } }.
    socket.emit('exchange', { target: target, payload: { msg: text } }, function (res) {
      if (res && res.ok === false) { m.failed = true; if (target === active) renderMessages(); }
    });
  }

  function toggleRecording() {
    if (recorder) { recorder.stop(); return; }
    if (!navigator.mediaDevices || !window.MediaRecorder) return;
    var target = active;
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      var chunks = [];
      var started = Date.now();
      var rec = new MediaRecorder(stream);
      recorder = rec;
      var limit = setTimeout(function () { if (rec.state !== 'inactive') rec.stop(); }, VOICE_MAX_MS);
      var tick = setInterval(function () {
        $('mic').textContent = '⏺ ' + Math.round((Date.now() - started) / 1000) + 's';
      }, 250);
      $('mic').classList.add('recording');
      $('mic').textContent = '⏺ 0s';
      rec.ondataavailable = function (ev) { if (ev.data && ev.data.size) chunks.push(ev.data); };
      rec.onstop = function () {
        clearTimeout(limit);
        clearInterval(tick);
        stream.getTracks().forEach(function (t) { t.stop(); });
        recorder = null;
        $('mic').classList.remove('recording');
        $('mic').textContent = '🎤';
        var mime = rec.mimeType || 'audio/webm';
        var blob = new Blob(chunks, { type: mime });
        if (!blob.size) return;
        var duration = Date.now() - started;
        var m = { mine: true, from: myId, voice: URL.createObjectURL(blob), duration: duration, time: Date.now() };
        addMessage(target, m);
        blob.arrayBuffer().then(function (buf) {
          // An ArrayBuffer goes out as a binary attachment, not base64.
          socket.emit('voice', { target: target, mime: mime, duration: duration, audio: buf }, function (res) {
            if (res && res.ok === false) { m.failed = true; if (target === active) renderMessages(); }
          });
        });
      };
      rec.start(250);
    }).catch(function (err) {
      addMessage(active, { system: true, text: 'Microphone unavailable: ' + err.message, time: Date.now() });
    });
  }

  // ---- receiving ----
  function onChat(msg, fallbackKey) {
    if (!msg || !msg.meta || !msg.data) return;
    var meta = msg.meta, data = msg.data;
    if (meta.nickname) names[meta.client] = meta.nickname;
    var key = meta.target === GROUP ? GROUP : (meta.client || fallbackKey);
    setPeerTyping(key, meta.client, false);
    var payload = data.payload || {};
    if (data.action === 'voice') {
      var blob = new Blob([payload.audio], { type: payload.mime || 'audio/webm' });
      addMessage(key, { from: meta.client, voice: URL.createObjectURL(blob), duration: payload.duration, time: meta.timestamp });
    } else {
      var text = typeof payload.msg === 'string' ? payload.msg : JSON.stringify(payload);
      addMessage(key, { from: meta.client, text: text, time: meta.timestamp });
    }
  }

  function onOwnEvent(msg) {
    if (msg && msg.data && msg.data.action === 'deny') {
      var p = msg.data.payload || {};
      myNick = null;
      setStatus('bad', 'denied');
      if (p.type === 'nickname') {
        askNickname(p.message || 'That nickname is taken.', false, 'join');
      } else {
        askNickname('Cannot join room “' + room + '”: ' + (p.message || 'denied') + ' Try ?room=demo.', true, 'join');
      }
      return;
    }
    onChat(msg, null); // a private message: the tutorial sends those on our own id
  }

  function connect(nickname) {
    if (socket) { socket.removeAllListeners(); socket.disconnect(); }
    users = [];
    setStatus('wait', 'connecting');
    // Options as in the tutorial (room in the query); the nickname rides along.
    var s = io('/', { query: { room: room, nickname: nickname }, forceNew: true });
    socket = s;
    window.socket = s; // handy in the console, as in the tutorial
    s.on('connect', function () {
      if (myListener) s.off(myId, myListener);
      myId = s.id;
      myListener = onOwnEvent;
      s.on(myId, myListener);
      myNick = nickname;
      setStatus('ok', 'online');
      hideModal();
      renderAll();
    });
    s.on('disconnect', function (reason) {
      setStatus('bad', reason === 'io client disconnect' ? 'offline' : 'disconnected');
      typingPeers = {};
      renderAll();
    });
    s.on('connect_error', function (err) { setStatus('bad', 'error: ' + err.message); });
    s.on(GROUP, function (msg) { onChat(msg, GROUP); });
    s.on('voice', function (msg) { onChat(msg, null); });
    s.on('online', function (msg) {
      if (msg && msg.client && msg.client !== s.id && msg.message) {
        if (msg.nickname) names[msg.client] = msg.nickname;
        addMessage(GROUP, { system: true, text: msg.message, time: msg.timestamp });
      }
      if (msg && msg.action === 'leave') {
        Object.keys(typingPeers).forEach(function (k) { if (typingPeers[k][msg.client]) setPeerTyping(k, msg.client, false); });
      }
    });
    s.on('users', function (msg) {
      var before = {};
      users.forEach(function (u) { before[u.id] = u.nickname; });
      users = (msg && msg.users) || [];
      users.forEach(function (u) {
        var was = before[u.id];
        if (u.id !== s.id && was && u.nickname && was !== u.nickname) {
          addMessage(GROUP, { system: true, text: was + ' is now known as ' + u.nickname + '.', time: Date.now() });
        }
        if (u.nickname) names[u.id] = u.nickname;
      });
      renderContacts();
      renderHeader();
      if (active !== GROUP) renderMessages();
    });
    s.on('typing', function (m) {
      if (!m || !m.client || m.client === myId) return;
      if (m.nickname) names[m.client] = m.nickname;
      setPeerTyping(m.target === GROUP ? GROUP : m.client, m.client, m.typing === true);
    });
  }

  // ---- nickname dialog ----
  var modalMode = 'join';
  function askNickname(error, fatal, mode) {
    modalMode = mode || (socket && socket.connected ? 'change' : 'join');
    $('modal').hidden = false;
    $('nick-title').textContent = modalMode === 'change' ? 'Change your nickname' : 'Welcome to yolk chat';
    $('nick-ok').textContent = modalMode === 'change' ? 'Save' : 'Join';
    $('nick-cancel').hidden = modalMode !== 'change';
    $('nick-error').textContent = error || '';
    $('nick-input').disabled = !!fatal;
    $('nick-ok').disabled = !!fatal;
    var input = $('nick-input');
    if (!input.value) input.value = myNick || sessionStorage.getItem('yolk-nick') || '';
    setTimeout(function () { input.focus(); input.select(); }, 0);
  }
  function hideModal() { $('modal').hidden = true; }

  $('nick-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var name = $('nick-input').value.trim();
    if (!name) { $('nick-error').textContent = 'Please enter a nickname.'; return; }
    if (Array.from(name).length > 20) { $('nick-error').textContent = 'At most 20 characters.'; return; }
    sessionStorage.setItem('yolk-nick', name);
    if (modalMode === 'change') {
      socket.emit('nickname', name, function (res) {
        if (res && res.ok) { myNick = res.nickname; hideModal(); renderAll(); }
        else $('nick-error').textContent = res && res.error === 'taken' ? 'That nickname is taken.' : 'Invalid nickname.';
      });
    } else {
      $('nick-error').textContent = '';
      connect(name);
    }
  });
  $('nick-cancel').addEventListener('click', hideModal);
  $('me-name').addEventListener('click', function () { $('nick-input').value = myNick || ''; askNickname(); });

  // ---- composer ----
  $('composer').addEventListener('submit', sendText);
  $('text').addEventListener('input', onInput);
  $('text').addEventListener('blur', stopTyping);
  $('mic').addEventListener('click', toggleRecording);
  $('search').addEventListener('input', renderContacts);

  var panel = $('emoji-panel');
  EMOJI.forEach(function (ch) {
    var b = el('button', 'emoji', ch);
    b.type = 'button';
    b.addEventListener('click', function () {
      var input = $('text');
      var at = input.selectionStart == null ? input.value.length : input.selectionStart;
      input.value = input.value.slice(0, at) + ch + input.value.slice(input.selectionEnd == null ? at : input.selectionEnd);
      input.focus();
      input.setSelectionRange(at + ch.length, at + ch.length);
      panel.hidden = true;
      onInput();
    });
    panel.appendChild(b);
  });
  $('emoji-btn').addEventListener('click', function (e) { e.stopPropagation(); panel.hidden = !panel.hidden; });
  document.addEventListener('click', function (e) { if (!panel.contains(e.target)) panel.hidden = true; });

  $('nick-room').textContent = room;
  renderAll();
  askNickname();
})();
