return {
  shout = function(s) return tostring(s):upper() .. '!' end,
}
