-- HTTP requests not claimed by Socket.IO: static files under config.static
-- (/public/ by default), then config.middleware and app.router. Each request
-- runs in its own coroutine; the response goes out when it finishes.
local scheduler = require('yolk.scheduler')
local context = require('yolk.context')
local fs = require('yolk.fs')
local logger = require('yolk.logger')
local yolk = require('yolk')

local M = {}

local core = require('yolk.core')
local decode = core.decode_uri_component

-- 'a=1&b=x+y&a=2' -> { a = '1', b = 'x y' } (the first value of each name, as
-- egg's ctx.query) and { a = {'1','2'}, b = {'x y'} } (ctx.queries), by the
-- one query decoder of the core.
M.parse_query = core.parse_query

M.TYPES = {
  html = 'text/html; charset=utf-8', htm = 'text/html; charset=utf-8',
  js = 'application/javascript; charset=utf-8', mjs = 'application/javascript; charset=utf-8',
  css = 'text/css; charset=utf-8', json = 'application/json; charset=utf-8',
  map = 'application/json; charset=utf-8', txt = 'text/plain; charset=utf-8',
  svg = 'image/svg+xml', png = 'image/png', jpg = 'image/jpeg', jpeg = 'image/jpeg',
  gif = 'image/gif', ico = 'image/x-icon', webp = 'image/webp', woff = 'font/woff',
  woff2 = 'font/woff2', ttf = 'font/ttf', wasm = 'application/wasm', mp3 = 'audio/mpeg',
  ogg = 'audio/ogg', webm = 'audio/webm', wav = 'audio/wav', mp4 = 'video/mp4', pdf = 'application/pdf',
  xml = 'application/xml',
}

function M.content_type(path)
  local ext = path:match('%.([%w]+)$')
  return ext and M.TYPES[ext:lower()] or 'application/octet-stream'
end

-- Serve config.static: true when the request was for a static path.
local function serve_static(app, ctx)
  local st = app.config.static
  if not st or st.enable == false then return false end
  local prefix = st.prefix or '/public/'
  if ctx.path:sub(1, #prefix) ~= prefix then return false end
  if ctx.method ~= 'GET' and ctx.method ~= 'HEAD' then return false end
  local rel = decode(ctx.path:sub(#prefix + 1))
  if rel == '' then return false end
  -- a rel starting with '/' (from '/public//etc/passwd' or '%2f') would be
  -- an absolute path to fs.join
  if rel:find('%z') or rel:sub(1, 1) == '/' then
    ctx.logger:warn('static path "%s" refused (absolute or NUL byte)', logger.printable(rel))
    return false
  end
  for seg in rel:gmatch('[^/]+') do
    if seg == '..' then
      ctx.logger:warn('static path "%s" refused (..)', logger.printable(rel))
      return false
    end
    if seg:sub(1, 1) == '.' then return false end
  end
  local file = fs.join(st.dir, rel)
  if fs.is_dir(file) then file = fs.join(file, 'index.html') end
  -- public/ files are small; read at once (served fresh from disk, no cache)
  local data = fs.is_file(file) and fs.read(file)
  if not data then return false end
  ctx.status = 200
  ctx:set('content-type', M.content_type(file))
  ctx:set('cache-control', st.cacheControl or 'no-cache')
  ctx.body = data
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
  if ctx.method == 'HEAD' then body = '' end
  req:respond(status, headers, body)
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
    local ok, err = xpcall(handle, scheduler.traceback, app, ctx, req)
    if not ok then
      local e = err.error
      if type(e) == 'table' and e.status and e.expose then
        ctx.status = e.status
        ctx.body = { message = e.message }
      else
        ctx.logger:error('%s', tostring(err))
        ctx.status = 500
        ctx.body = 'Internal Server Error'
        ctx.response.headers['content-type'] = 'text/plain; charset=utf-8'
      end
    end
    if req.aborted then return end
    M.finish(ctx, req)
  end)
end

return M
