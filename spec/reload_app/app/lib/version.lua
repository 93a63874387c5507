-- A plain module the controller require()s: reloads load it afresh.
return { text = 'lib v1' }
