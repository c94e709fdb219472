// KakaoTalk chat preview for `make run`: sends the JSON OpenBuilder sends to POST /skill and
// draws the skill 2.0 answer as KakaoTalk does. Plain script, no build step, no network beyond
// this page's own origin (and the images an answer names).
"use strict";

(() => {
  const SKILL_URL = "/skill";
  const LIMITS_URL = "/limits";
  // A stable test user, as OpenBuilder's bot test has one user key per tester.
  const USER_ID = "preview-user";
  // The gateway's token for this run: with it (and only from this page) it adds x-api-key.
  const PREVIEW_TOKEN =
    document.querySelector('meta[name="chat-preview-token"]')?.getAttribute("content") || "";
  const BOT_NAME = "음악 챗봇";
  const SIMPLE_TEXT_FOLD = 500; // KakaoTalk folds a simpleText after 500 characters
  const WEB_URL = /^https?:\/\//i;
  const IMAGE_URL = /^(https?:\/\/|data:image\/)/i;

  const log = document.getElementById("chat-log");
  const input = document.getElementById("message");
  const form = document.getElementById("composer");
  const exchanges = []; // every exchange of this page, for people (console) and tests

  // --- the request: the same JSON as devtools/local_gateway.py kakao_request() -------------
  function kakaoRequest(utterance, extra = null, userId = USER_ID) {
    return {
      intent: { id: "local-intent", name: "아티스트 검색" },
      userRequest: {
        timezone: "Asia/Seoul",
        params: { ignoreMe: "true", surface: "BuilderBotTest" },
        block: { id: "local-block", name: "아티스트 검색" },
        utterance,
        lang: "ko",
        user: { id: userId, type: "botUserKey", properties: { botUserKey: userId } },
      },
      bot: { id: "local-bot", name: BOT_NAME },
      action: {
        name: "artist_skill",
        clientExtra: extra,
        params: {},
        id: "local-action",
        detailParams: {},
      },
    };
  }

  // --- small DOM helpers --------------------------------------------------------------------
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
  const asList = (value) => (Array.isArray(value) ? value : []);
  const nonEmpty = (value) => typeof value === "string" && value.trim() !== "";

  function timeLabel() {
    return new Date().toLocaleTimeString("ko-KR", { hour: "numeric", minute: "2-digit" });
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  let toastTimer = null;
  function toast(message) {
    const box = document.getElementById("toast");
    box.textContent = message;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      box.hidden = true;
    }, 2500);
  }

  // An image, or a neutral placeholder box of the same size when it is missing or fails to
  // load (offline, a remote host, a broken URL).
  function image(url, alt, className) {
    const placeholder = () => {
      const box = el("div", `${className} img-placeholder`);
      box.setAttribute("role", "img");
      box.setAttribute("aria-label", alt || "이미지");
      return box;
    };
    if (!nonEmpty(url) || !IMAGE_URL.test(url)) return placeholder();
    const img = el("img", className);
    img.alt = alt || "";
    img.loading = "lazy";
    img.decoding = "async";
    img.referrerPolicy = "no-referrer";
    img.addEventListener("error", () => img.replaceWith(placeholder()), { once: true });
    img.src = url;
    return img;
  }

  function webLink(url, className, text) {
    const link = el("a", className, text);
    if (nonEmpty(url) && WEB_URL.test(url)) {
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
    }
    return link;
  }

  const linkUrl = (link) => (isObject(link) ? link.web || link.mobile || link.pc : undefined);

  // --- what a tap does, as KakaoTalk does it -----------------------------------------------
  // message / block: the messageText (or the label) becomes the next utterance and `extra`
  // comes back as action.clientExtra; webLink opens the page; phone, share and operator
  // only say what KakaoTalk would do (there is no phone or chat to hand over to here).
  function perform(target) {
    const action = target.action;
    const text = nonEmpty(target.messageText) ? target.messageText : target.label;
    const extra = isObject(target.extra) ? target.extra : null;
    switch (action) {
      case "message":
      case "block":
        if (nonEmpty(text)) send(text, extra);
        return;
      case "webLink":
        if (nonEmpty(target.webLinkUrl) && WEB_URL.test(target.webLinkUrl)) {
          window.open(target.webLinkUrl, "_blank", "noopener");
        }
        return;
      case "phone":
        toast(`전화 걸기: ${target.phoneNumber || "번호 없음"} (미리보기에서는 걸지 않아요)`);
        return;
      case "share":
        toast("공유하기: 카카오톡에서는 이 말풍선을 친구에게 공유해요");
        return;
      case "operator":
        toast("상담원 연결: 미리보기에는 상담원이 없어요");
        return;
      default:
        toast(`알 수 없는 동작: ${action}`);
    }
  }

  function button(spec, className) {
    const label = spec.label || "";
    let node;
    if (spec.action === "webLink") {
      node = webLink(spec.webLinkUrl, className, label);
    } else {
      node = el("button", className, label);
      node.type = "button";
      node.addEventListener("click", () => perform(spec));
    }
    node.dataset.action = String(spec.action || "");
    return node;
  }

  function buttons(list, horizontal) {
    const specs = asList(list).filter(isObject);
    if (!specs.length) return null;
    const row = el("div", horizontal ? "card-buttons horizontal" : "card-buttons");
    for (const spec of specs) row.append(button(spec, "card-button"));
    return row;
  }

  // buttonLayout when the answer gives it; otherwise a 1:1 thumbnail puts them side by side.
  function horizontalButtons(card) {
    if (card.buttonLayout) return card.buttonLayout === "horizontal";
    return isObject(card.thumbnail) && card.thumbnail.fixedRatio === true;
  }

  function thumbnail(thumb, className) {
    if (!isObject(thumb)) return null;
    const ratio = thumb.fixedRatio === true ? "square" : "wide";
    const img = image(thumb.imageUrl, thumb.altText, `${className} ${ratio}`);
    const url = linkUrl(thumb.link);
    if (!url || !WEB_URL.test(url)) return img;
    const link = webLink(url, "thumb-link");
    link.append(img);
    return link;
  }

  // Title and description, as most card kinds show them.
  function titled(body, spec) {
    if (nonEmpty(spec.title)) body.append(el("div", "card-title", spec.title));
    if (nonEmpty(spec.description)) body.append(el("div", "card-description", spec.description));
  }

  // The card's buttons, last; side by side when the answer says horizontal.
  function withButtons(card, spec, horizontal = spec.buttonLayout === "horizontal") {
    const row = buttons(spec.buttons, horizontal);
    if (row) card.append(row);
    return card;
  }

  // --- components ---------------------------------------------------------------------------
  function simpleText(spec) {
    const text = String(spec.text ?? "");
    const bubble = el("div", "bubble bot simple-text");
    if ([...text].length <= SIMPLE_TEXT_FOLD) {
      bubble.textContent = text;
      return bubble;
    }
    const shown = el("span", null, `${[...text].slice(0, SIMPLE_TEXT_FOLD).join("")}…`);
    const more = el("button", "fold", "전체보기");
    more.type = "button";
    more.addEventListener("click", () => {
      shown.textContent = text;
      more.remove();
    });
    bubble.append(shown, more);
    return bubble;
  }

  function simpleImage(spec) {
    const box = el("div", "simple-image");
    box.append(image(spec.imageUrl, spec.altText, "simple-image-img"));
    return box;
  }

  function textCard(spec) {
    const card = el("div", "card text-card");
    const body = el("div", "card-body");
    titled(body, spec);
    card.append(body);
    return withButtons(card, spec);
  }

  function basicCard(spec) {
    const card = el("div", "card basic-card");
    const thumb = thumbnail(spec.thumbnail, "card-thumb");
    if (thumb) card.append(thumb);
    const body = el("div", "card-body");
    titled(body, spec);
    if (body.childElementCount) card.append(body);
    return withButtons(card, spec, horizontalButtons(spec));
  }

  function listItem(item) {
    const clickable = item.action === "message" || item.action === "block";
    const url = linkUrl(item.link);
    let row;
    if (clickable) {
      row = el("button", "list-item");
      row.type = "button";
      row.addEventListener("click", () =>
        perform({ ...item, label: item.title, action: item.action }),
      );
    } else if (url && WEB_URL.test(url)) {
      row = webLink(url, "list-item");
    } else {
      row = el("div", "list-item");
    }
    const text = el("span", "list-item-text");
    text.append(el("span", "list-item-title", item.title ?? ""));
    if (nonEmpty(item.description)) {
      text.append(el("span", "list-item-description", item.description));
    }
    row.append(text);
    if (item.imageUrl !== undefined) row.append(image(item.imageUrl, item.title, "list-item-img"));
    return row;
  }

  function listCard(spec) {
    const card = el("div", "card list-card");
    const header = isObject(spec.header) ? spec.header : {};
    const head = el("div", "list-header");
    if (nonEmpty(header.imageUrl)) head.append(image(header.imageUrl, "", "list-header-img"));
    head.append(el("span", "list-header-title", header.title ?? ""));
    card.append(head);
    const items = el("div", "list-items");
    for (const item of asList(spec.items).filter(isObject)) items.append(listItem(item));
    card.append(items);
    return withButtons(card, spec);
  }

  // The small avatar-and-name row of commerceCard (nickname) and itemCard (title).
  function profileRow(profile, name) {
    const row = el("div", "commerce-profile");
    if (nonEmpty(profile.imageUrl)) {
      row.append(image(profile.imageUrl, "", "commerce-profile-img"));
    }
    row.append(el("span", null, name ?? ""));
    return row;
  }

  function commerceCard(spec) {
    const card = el("div", "card commerce-card");
    const thumb = asList(spec.thumbnails).find(isObject);
    if (thumb) card.append(thumbnail(thumb, "card-thumb"));
    const body = el("div", "card-body");
    if (isObject(spec.profile)) body.append(profileRow(spec.profile, spec.profile.nickname));
    titled(body, spec);
    const won = (value) => `${Number(value).toLocaleString("ko-KR")}원`;
    const price = el("div", "commerce-price");
    if (typeof spec.discountedPrice === "number" || typeof spec.discount === "number") {
      const final = spec.discountedPrice ?? spec.price - spec.discount;
      if (spec.discountRate) price.append(el("span", "commerce-rate", `${spec.discountRate}%`));
      price.append(el("strong", null, won(final)), el("s", "muted", won(spec.price)));
    } else if (typeof spec.price === "number") {
      price.append(el("strong", null, won(spec.price)));
    }
    body.append(price);
    card.append(body);
    return withButtons(card, spec);
  }

  function itemCard(spec) {
    const card = el("div", "card item-card");
    if (isObject(spec.thumbnail)) {
      card.append(image(spec.thumbnail.imageUrl, "", "card-thumb wide"));
    }
    const body = el("div", "card-body");
    if (isObject(spec.head)) body.append(el("div", "item-head", spec.head.title ?? ""));
    if (isObject(spec.profile)) body.append(profileRow(spec.profile, spec.profile.title));
    if (isObject(spec.imageTitle)) {
      const block = el("div", "item-image-title");
      const words = el("div");
      words.append(el("div", "card-title", spec.imageTitle.title ?? ""));
      if (nonEmpty(spec.imageTitle.description)) {
        words.append(el("div", "card-description", spec.imageTitle.description));
      }
      block.append(words);
      if (nonEmpty(spec.imageTitle.imageUrl)) {
        block.append(image(spec.imageTitle.imageUrl, "", "item-image-title-img"));
      }
      body.append(block);
    }
    const list = el("dl", `item-list ${spec.itemListAlignment === "right" ? "right" : ""}`);
    for (const entry of asList(spec.itemList).filter(isObject)) {
      list.append(el("dt", null, entry.title ?? ""), el("dd", null, entry.description ?? ""));
    }
    if (list.childElementCount) body.append(list);
    if (isObject(spec.itemListSummary)) {
      const summary = el("dl", "item-list item-summary");
      summary.append(
        el("dt", null, spec.itemListSummary.title ?? ""),
        el("dd", null, spec.itemListSummary.description ?? ""),
      );
      body.append(summary);
    }
    titled(body, spec);
    card.append(body);
    return withButtons(card, spec);
  }

  function carouselHeader(header) {
    const card = el("div", "card carousel-header");
    if (isObject(header.thumbnail)) {
      card.append(image(header.thumbnail.imageUrl, "", "carousel-header-img"));
    }
    const body = el("div", "card-body");
    body.append(el("div", "card-title", header.title ?? ""));
    if (nonEmpty(header.description)) body.append(el("div", "card-description", header.description));
    card.append(body);
    return card;
  }

  function carousel(spec) {
    const strip = el("div", "carousel");
    strip.dataset.type = String(spec.type || "");
    strip.tabIndex = 0; // scrollable with the keyboard too
    if (isObject(spec.header)) strip.append(carouselHeader(spec.header));
    const render = CARDS[spec.type];
    for (const item of asList(spec.items).filter(isObject)) {
      strip.append(render ? render(item) : unknown(spec.type));
    }
    return strip;
  }

  function unknown(kind) {
    return el("div", "bubble bot unknown", `(미리보기가 모르는 형식: ${kind})`);
  }

  const CARDS = { basicCard, commerceCard, listCard, itemCard, textCard };
  const COMPONENTS = { simpleText, simpleImage, carousel, ...CARDS };

  function component(output) {
    if (!isObject(output)) return unknown(typeof output);
    const [kind] = Object.keys(output);
    const render = COMPONENTS[kind];
    const node = render && isObject(output[kind]) ? render(output[kind]) : unknown(kind);
    node.dataset.component = kind;
    return node;
  }

  // --- turns in the chat --------------------------------------------------------------------
  function clearQuickReplies() {
    for (const old of log.querySelectorAll(".quick-replies")) old.remove();
  }

  function userTurn(text) {
    const row = el("div", "turn user");
    const line = el("div", "line");
    line.append(el("span", "time", timeLabel()), el("div", "bubble user", text));
    row.append(line);
    log.append(row);
    scrollToEnd();
    return row;
  }

  function botTurn(nodes) {
    const row = el("div", "turn bot");
    const avatar = el("div", "avatar", "♪");
    avatar.setAttribute("aria-hidden", "true");
    const column = el("div", "column");
    column.append(el("div", "bot-name", BOT_NAME));
    nodes.forEach((node, index) => {
      const line = el("div", node.classList.contains("carousel") ? "line wide" : "line");
      line.append(node);
      if (index === nodes.length - 1) line.append(el("span", "time", timeLabel()));
      column.append(line);
    });
    row.append(avatar, column);
    log.append(row);
    return row;
  }

  function notice(text, className = "notice") {
    const node = el("div", className, text);
    log.append(node);
    scrollToEnd();
    return node;
  }

  function quickReplies(list) {
    const specs = asList(list).filter(isObject);
    if (!specs.length) return null;
    const row = el("div", "quick-replies");
    for (const spec of specs) {
      const chip = el("button", "quick-reply", spec.label ?? spec.messageText ?? "");
      chip.type = "button";
      chip.dataset.action = String(spec.action || "");
      chip.addEventListener("click", () => perform(spec));
      row.append(chip);
    }
    log.append(row);
    return row;
  }

  // Draws one skill 2.0 body as KakaoTalk would; returns the bot turn (or a notice).
  function renderResponse(body) {
    clearQuickReplies();
    if (!isObject(body)) return notice("응답이 JSON 객체가 아니에요: 카카오톡에는 아무것도 안 보여요", "notice error");
    if (body.useCallback === true) {
      return notice("useCallback: 답은 콜백 URL로 따로 와요 (미리보기는 콜백을 흉내 내지 않아요)");
    }
    const template = isObject(body.template) ? body.template : {};
    const outputs = asList(template.outputs);
    if (!outputs.length) return notice("template.outputs가 비어 있어요: 카카오톡에는 아무것도 안 보여요", "notice error");
    const turn = botTurn(outputs.map(component));
    quickReplies(template.quickReplies);
    scrollToEnd();
    return turn;
  }

  function typingIndicator() {
    const turn = botTurn([el("div", "bubble bot typing", "• • •")]);
    turn.classList.add("pending");
    scrollToEnd();
    return turn;
  }

  // --- the raw exchange panel ---------------------------------------------------------------
  const panel = document.getElementById("panel");

  function pretty(text, parsed) {
    if (parsed !== undefined) return JSON.stringify(parsed, null, 2);
    return text === "" ? "(empty body)" : text;
  }

  function showExchange(exchange) {
    const { request, status, elapsedMs, responseText, responseBody, keyAdded, error } = exchange;
    panel.dataset.exchange = String(exchanges.length);
    panel.dataset.state = "answered";
    document.getElementById("exchange-meta").textContent =
      `#${exchanges.length} · user ${request.userRequest.user.id}`;
    document.getElementById("request-meta").textContent =
      `POST ${SKILL_URL}` + (keyAdded ? " · x-api-key added by the local gateway" : "");
    document.getElementById("request-json").textContent = JSON.stringify(request, null, 2);
    const badge = document.getElementById("response-status");
    badge.textContent = error ? "no answer" : `HTTP ${status}`;
    badge.className = `status ${status === 200 ? "ok" : "bad"}`;
    document.getElementById("response-elapsed").textContent = `${elapsedMs} ms`;
    document.getElementById("response-json").textContent = error
      ? String(error)
      : pretty(responseText, responseBody);
    showProblems(null, "checking…");
  }

  function showProblems(problems, message) {
    const list = document.getElementById("problems");
    list.replaceChildren();
    if (problems === null) {
      list.append(el("li", "muted", message));
      return;
    }
    if (!problems.length) {
      list.append(el("li", "ok", "no problems: within every Kakao limit"));
    }
    for (const problem of problems) list.append(el("li", "problem", problem));
    list.dataset.count = String(problems.length);
  }

  // One source of truth: the server-side validator, devtools/kakao_limits.py.
  async function checkLimits(responseText) {
    const response = await fetch(LIMITS_URL, {
      method: "POST",
      headers: { "Content-Type": "application/json; charset=utf-8" },
      body: responseText,
    });
    const result = await response.json();
    return asList(result.problems);
  }

  // --- sending ------------------------------------------------------------------------------
  async function send(utterance, extra = null) {
    if (!nonEmpty(utterance)) return null;
    clearQuickReplies();
    userTurn(utterance);
    const request = kakaoRequest(utterance, extra);
    const typing = typingIndicator();
    const exchange = { request, status: 0, responseText: "", responseBody: undefined };
    const started = performance.now();
    try {
      const headers = { "Content-Type": "application/json; charset=utf-8" };
      if (PREVIEW_TOKEN) headers["X-Chat-Preview"] = PREVIEW_TOKEN;
      const response = await fetch(SKILL_URL, {
        method: "POST",
        headers,
        body: JSON.stringify(request),
      });
      exchange.status = response.status;
      exchange.keyAdded = response.headers.get("X-Chat-Preview-Api-Key") === "added";
      exchange.responseText = await response.text();
    } catch (error) {
      exchange.error = error;
    }
    exchange.elapsedMs = Math.round(performance.now() - started);
    typing.remove();
    try {
      exchange.responseBody = JSON.parse(exchange.responseText);
    } catch {
      exchange.responseBody = undefined;
    }
    exchanges.push(exchange);
    showExchange(exchange);

    if (exchange.error) {
      notice(`스킬 서버에 닿지 못했어요: ${exchange.error}`, "notice error");
    } else if (exchange.status !== 200) {
      notice(`HTTP ${exchange.status}: 카카오톡은 이 답을 보여 주지 않아요`, "notice error");
    } else {
      renderResponse(exchange.responseBody);
    }

    if (exchange.status === 200) {
      try {
        exchange.problems = await checkLimits(exchange.responseText);
        showProblems(exchange.problems);
      } catch (error) {
        showProblems(null, `the limits check failed: ${error}`);
      }
    } else {
      showProblems(null, "not checked: KakaoTalk only reads an HTTP 200 answer");
    }
    panel.dataset.state = "checked";
    return exchange;
  }

  // --- wiring -------------------------------------------------------------------------------
  document.getElementById("date-divider").textContent = new Date().toLocaleDateString("ko-KR", {
    year: "numeric",
    month: "long",
    day: "numeric",
    weekday: "long",
  });

  function submit() {
    const text = input.value;
    if (!nonEmpty(text)) return;
    input.value = "";
    send(text.trim());
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  input.addEventListener("keydown", (event) => {
    // Enter that ends a Hangul composition is not a send (it would send the syllable twice).
    if (event.key !== "Enter" || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    submit();
  });

  const toggle = document.getElementById("panel-toggle");
  function showPanel(shown) {
    document.body.classList.toggle("panel-hidden", !shown);
    toggle.setAttribute("aria-expanded", String(shown));
  }
  toggle.addEventListener("click", () =>
    showPanel(document.body.classList.contains("panel-hidden")),
  );
  document.getElementById("panel-close").addEventListener("click", () => showPanel(false));
  showPanel(!window.matchMedia("(max-width: 860px)").matches);

  window.kakaoPreview = { kakaoRequest, renderResponse, send, exchanges, USER_ID };
})();
