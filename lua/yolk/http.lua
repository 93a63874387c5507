-- HTTP requests not claimed by Socket.IO: static files under config.static
-- (/public/ by default), then config.middleware and app.router. Each request
-- runs in its own coroutine; the response goes out when it finishes.
local scheduler = require('yolk.scheduler')
local context = require('yolk.context')
local logger = require('yolk.logger')
local errors = require('yolk.errors')
local yolk = require('yolk')

local M = {}

local core = require('yolk.core')
local decode = core.decode_uri_component

-- 'a=1&b=x+y&a=2' -> { a = '1', b = 'x y' } (the first value of each name, as
-- egg's ctx.query) and { a = {'1','2'}, b = {'x y'} } (ctx.queries), by the
-- one query decoder of the core.
M.parse_query = core.parse_query

-- Answers with the file rel under root through the core's static-file
-- responder (reads on libuv's thread pool, a cache checked against the
-- file's mtime, ETag/Last-Modified and 304, HEAD). Yields; true once sent,
-- false when there is no such file (or the path is refused: absolute, "..",
-- NUL, hidden), nil if the client went away.
local function send_file(ctx, root, rel, cache_control)
  local req = ctx.req
  return scheduler.wait(function(wake)
    if not req:send_file(root, rel, cache_control or 'no-cache', wake) then wake(nil) end
  end)
end

-- Serve config.static: true when the request was for a static file (answered).
local function serve_static(app, ctx)
  local st = app.config.static
  if not st or st.enable == false then return false end
  local prefix = st.prefix or '/public/'
  if ctx.path:sub(1, #prefix) ~= prefix then return false end
  if ctx.method ~= 'GET' and ctx.method ~= 'HEAD' then return false end
  local rel = decode(ctx.path:sub(#prefix + 1))
  if rel == '' then return false end
  local sent = send_file(ctx, st.dir, rel, st.cacheControl)
  if sent == false then return false end
  ctx.sent = true -- answered (or the client is gone): nothing more to send
  return true
end

-- ctx:sendFile(path [, opts]): answers with a file of the application
-- (path relative to baseDir, or opts.root), or 404 when it does not exist.
-- Yields until it is sent.
function context.HttpCtx:sendFile(path, opts)
  local root = opts and opts.root or self.app.baseDir
  local sent = send_file(self, root, path, opts and opts.cacheControl)
  if sent == false then
    self.status = 404
    return false
  end
  self.sent = true
  return true
end

local function parse_body(app, ctx, req)
  local body = req.body
  ctx.request.rawBody = body
  if not body or body == '' then ctx.request.body = {}; return true end
  local ct = (ctx.headers['content-type'] or ''):lower()
  if ct:find('application/json', 1, true) or ct:find('+json', 1, true) then
    local v, err = yolk.json_decode(body)
    if v == nil and err then
      ctx.logger:warn('invalid JSON body (%s), answering 400', tostring(err))
      ctx.status = 400
      ctx.body = { message = 'invalid JSON body: ' .. tostring(err) }
      return false
    end
    ctx.request.body = v
  elseif ct:find('application/x-www-form-urlencoded', 1, true) then
    ctx.request.body = M.parse_query(body)
  else
    ctx.request.body = body
  end
  return true
end

local STATUS_TEXT = { [200] = 'OK', [204] = 'No Content', [400] = 'Bad Request', [404] = 'Not Found',
  [405] = 'Method Not Allowed', [500] = 'Internal Server Error' }

-- Turn ctx.status/body/headers into the response.
function M.finish(ctx, req)
  local res = ctx.response
  local headers = res.headers
  local body = ctx.body
  local status = ctx.status
  if body == nil then
    status = status or 404
    body = status == 204 and '' or (STATUS_TEXT[status] or tostring(status))
    if status ~= 204 and not headers['content-type'] then headers['content-type'] = 'text/plain; charset=utf-8' end
  else
    status = status or 200
    if yolk.is_buffer(body) then
      body = body:tostring()
      headers['content-type'] = headers['content-type'] or 'application/octet-stream'
    elseif type(body) == 'table' or body == yolk.null or type(body) == 'boolean' or type(body) == 'number' then
      body = yolk.json_encode(body)
      headers['content-type'] = headers['content-type'] or 'application/json; charset=utf-8'
    else
      body = tostring(body)
      if not headers['content-type'] then
        headers['content-type'] = body:match('^%s*<') and 'text/html; charset=utf-8' or 'text/plain; charset=utf-8'
      end
    end
  end
  req:respond(status, headers, body) -- a HEAD's body is dropped by the HTTP layer
end

-- An error from a handler or a middleware. A refusal with a status
-- (ctx:throw(403, 'not yours'), or error{ status = 403, message = ... } in
-- app code) answers that status with { message }, logged at INFO; the
-- message is shown when the status is below 500 or expose is true (koa's
-- rule). Anything else answers 500 and is logged at ERROR with its
-- traceback: the body is 'Internal Server Error', or under `yolk dev` also
-- the error and its traceback.
function M.on_error(app, ctx, err)
  local e = scheduler.is_traced(err) and err.error or err
  local status = type(e) == 'table' and tonumber(scheduler.field(e, 'status'))
  if errors.is_refusal(err) and status and status >= 400 and status <= 599 then
    local expose = scheduler.field(e, 'expose')
    if expose == nil then expose = status < 500 end
    local message = STATUS_TEXT[status] or tostring(status)
    local m = scheduler.field(e, 'message')
    if expose and m ~= nil then
      local ok, text = pcall(tostring, m) -- (a message that cannot be a string: the status text)
      if ok and type(text) == 'string' then message = text end
    end
    ctx.logger:info('answered %d: %s%s', status, message, errors.where(err, app.baseDir))
    ctx.status = status
    ctx.body = { message = message }
    return
  end
  errors.count_bug()
  ctx.logger:error('%s', tostring(err))
  ctx.status = 500
  ctx.body = 'Internal Server Error'
  if errors.dev then
    ctx.body = 'Internal Server Error\n\n' .. errors.details(err, app.baseDir) .. '\n'
  end
  ctx.response.headers['content-type'] = 'text/plain; charset=utf-8'
end

local function handle(app, ctx, req)
  if serve_static(app, ctx) then return end
  if not parse_body(app, ctx, req) then return end
  app.httpChain(ctx, function()
    local route, params = app.router:match(ctx.method, ctx.path)
    if not route then return end
    ctx.params = params
    ctx.routePath = route.path
    if #route.middleware > 0 then
      return require('yolk.compose')(route.middleware)(ctx, route.handler)
    end
    return route.handler(ctx)
  end)
end

function M.on_request(runtime, req)
  scheduler.doing('request', req.method, req.path)
  local app = runtime.gen
  local query, queries = M.parse_query(req.query)
  local headers = req.headers or {}
  local ctx = context.http_ctx(app, {
    req = req,
    method = req.method,
    url = req.url,
    path = req.path,
    querystring = req.query or '',
    query = query,
    queries = queries,
    params = {},
    headers = headers,
    ip = req.remote_addr,
    request = { headers = headers, method = req.method, path = req.path, url = req.url, query = query },
    response = { headers = {} },
  })
  scheduler.spawn_ex(req.method .. ' ' .. tostring(req.path), nil, function()
    local ok, err = xpcall(handle, errors.traceback, app, ctx, req)
    if not ok then M.on_error(app, ctx, scheduler.caught(err)) end
    if req.aborted or ctx.sent then return end
    M.finish(ctx, req)
  end)
end

return M
