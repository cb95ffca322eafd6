import{n as e}from"./dist-B5d9IcWF.js";var t,n,r,i,a,o,s,c,l,u,d=Symbol.for(`pv`),f={},p=[],m=/^m(i|n|o|s|text|space)$/,h=Array.isArray,g=p.slice,_=Object.assign;function v(e){e&&e.parentNode&&e.remove()}function y(e,t,n){var r,i,a,o={},s=arguments.length;for(a in t)a==`key`?r=t[a]:a==`ref`&&typeof e!=`function`?i=t[a]:o[a]=t[a];return s>2&&(o.children=s>3?g.call(arguments,2):n),b(e,o,r,i,null)}function b(e,r,i,a,o){var s={type:e,props:r,key:i,ref:a,__k:null,__:null,__b:0,__e:null,__c:null,constructor:d,__v:o||++n,__i:-1,__u:0};return!o&&t.vnode&&t.vnode(s),s}function x(e){return e.children}function S(e,t){this.props=e,this.context=t,this.__g=0}function C(e,t){if(t==null)return e.__&&C(e.__,e.__i+1);for(var n;t<e.__k.length;t++)if((n=e.__k[t])&&n.__e)return n.__e;return typeof e.type!=`function`||e.props.__P?null:C(e)}function w(e){var n,r=e.__v,i=r.__e,a=[],o=[],s=e.__P;s&&((n=_({constructor:d},r)).__v=r.__v+1,t.vnode&&t.vnode(n),P(s,n,r,e.__n,s.namespaceURI,32&r.__u?[i]:null,a,i||C(r),32&r.__u,o),n.__v=r.__v,n.__.__k[n.__i]=n,I(a,n,o),r.__=r.__e=null,n.__e!=i&&T(n))}function T(e){if((e=e.__)&&e.__c&&!e.props.__P)return e.__e=null,e.__k.some(function(t){return t&&(e.__e=t.__e)}),T(e)}function E(e){(8&e.__g||(e.__g|=8,r.push(e),a++))&&i==t.debounceRendering||((i=t.debounceRendering)||queueMicrotask)(D)}function D(){try{for(var e,t=1;r.length;)r.length>t&&r.sort(o),e=r.shift(),t=r.length,8&e.__g&&w(e)}finally{(a=r.length)&&(i||queueMicrotask)(D)}}function ee(e,t,n,r,i,a,o,s,c,l,u){var d,m,h,g,_,v,y=r.__k||p,b=t.length;for(c=O(n,t,y,c,b),d=0;d<b;d++)(h=n.__k[d])!=null&&(m=~h.__i&&y[h.__i]||f,h.__i=d,v=P(e,h,m,i,a,o,s,c,l,u),g=h.__e,(m.ref!=h.ref||8&m.__u)&&(m.ref&&L(m.ref,null,h,m),h.ref&&u.push(h.ref,h.__c||g,h)),_||=g,4&h.__u?(c=k(h,c,e,!m.__v),m.__e&&(m.__e=null)):typeof h.type==`function`&&v!==void 0?c=v:g&&(c=g.nextSibling),h.__u&=-21);return n.__e=_,c}function O(e,t,n,r,i){var a,o,s,c,l,u,f,p,m,g=n.length,_=g,v=0,y=0,S=e.__k=Array(i);for(a=0;a<i;a++)(o=t[a])!=null&&typeof o!=`boolean`&&typeof o!=`function`?(typeof o!=`object`||o.constructor===String?o=S[a]=b(null,o):h(o)?o=S[a]=b(x,{children:o}):o.constructor===d&&o.__b?o=S[a]=b(o.type,o.props,o.key,o.ref,o.__v):S[a]=o,c=a+v,o.__=e,o.__b=e.__b+1,s=null,~(l=o.__i=A(o,n,c,_))&&(_--,(s=n[l])&&(s.__u|=2)),s&&s.__v?(o.__u|=16,l==c-1?v--:l==c+1?v++:l!=c&&(l>c?v--:v++,y=1)):(~l||(i>g?v--:i<g&&v++),typeof o.type!=`function`&&(o.__u|=4))):S[a]=null;if(y){for(u=[],f=[],a=0;a<i;a++)if((o=S[a])&&16&o.__u){for(v=0,p=u.length;v<p;)u[m=v+p>>1]<o.__i?v=m+1:p=m;u[v]=o.__i,f[a]=v+1}for(v=u.length;a--;)f[a]&&(f[a]==v?v--:S[a].__u|=4)}if(_)for(a=0;a<g;a++)!(s=n[a])||2&s.__u||(s.__e==r&&(r=C(s)),R(s,s));return r}function k(e,t,n,r){var i,a,o,s;if(typeof e.type==`function`){if(e.props.__P)return t;if(i=e.__k)for(a=0;a<i.length;a++)i[a]&&(i[a].__=e,t=k(i[a],t,n,!1));return t}for(t&&!t.parentNode&&(t=C(e))&&!t.parentNode&&(t=null),o=e.__e,s=t;s&&s.nodeType==8;)s=s.nextSibling;for(o!=s&&(!r&&n.moveBefore&&o.parentNode?n.moveBefore(o,t):n.insertBefore(o,t||null)),t=o;(t&&=t.nextSibling)&&t.nodeType==8&&!t.data.startsWith(`$s`););return t}function A(e,t,n,r){var i,a=e.key,o=e.type,s=t[n],c=s&&!(2&s.__u);if(s===null&&a==null||c&&a==s.key&&o==s.type)return n;if(r>+!!c){for(i=n-1;i>=0;i--)if((s=t[i])&&!(2&s.__u)&&a==s.key&&o==s.type)return i;for(i=n+1;i<t.length;i++)if((s=t[i])&&!(2&s.__u)&&a==s.key&&o==s.type)return i}return-1}function j(e,t,n){n??=``,t[0]==`-`?e.setProperty(t,n):e[t]=n}function M(e,t,n,r,i){var a,o;if(t==`style`){if(typeof n==`string`)e.style.cssText=n;else{if(typeof r==`string`&&(e.style.cssText=r=``),r)for(t in r)n&&t in n||j(e.style,t);if(n)for(t in n)r&&n[t]==r[t]||j(e.style,t,n[t])}}else if(t[0]==`o`&&t[1]==`n`)typeof n!=`function`&&(n=null),typeof r!=`function`&&(r=null),(e.__e||={})[t]=n,n&&r||(o=u[t]||(u[t]=N(t)),(e.__a||={})[t]=l,a=t!=(t=t.replace(c,`$1`)),(t=t.slice(2))[0]<`a`&&(t=t.toLowerCase()),n?e.addEventListener(t,o,a):e.removeEventListener(t,o,a));else{if(i==`http://www.w3.org/2000/svg`)t=t.replace(/xlink(H|:h)/,`h`).replace(/sName$/,`s`);else if(t!=`width`&&t!=`height`&&t!=`href`&&t!=`list`&&t!=`form`&&t!=`tabIndex`&&t!=`download`&&t!=`rowSpan`&&t!=`colSpan`&&t!=`role`&&t!=`popover`&&t in e)try{e[t]=n??``;return}catch{}if(typeof n==`function`)return;n==null||!1===n&&t[4]!=`-`?e.removeAttribute(t):e.setAttribute(t,t==`popover`&&n==1?``:n)}}function N(e){return function(n){var r=this.__e;if(r){if(r=r[e],n[s]==null)n[s]=l++;else if(n[s]<this.__a[e])return;return r(t.event?t.event(n):n)}}}function P(e,n,r,i,a,o,s,c,l,u){var f,m,g,y,b,w,T,E,D,O,k,A,j,M,N,P,I,L,z=n.type;if(n.constructor!==d)return null;128&r.__u&&(l=32&r.__u,f=r.__c.__z)&&(n.__u|=l,m=o=[],f.nodeType==8?c=F(f,o):o.push(f),c=o[0]||c),(f=t.__b)&&f(n);e:if(typeof z==`function`){g=s.length;try{if(E=n.props,D=(f=z.prototype)&&f.render,O=(f=z.contextType)&&i[f.__c],k=f?O?O.props.value:f.__:i,(y=r.__c)?(n.__c=y,2&y.__g&&(y.__g|=1)):(D?n.__c=y=new z(E,k):(n.__c=y=new S(E,k),y.constructor=z,y.render=re),O&&O.sub(y),y.state||(y.state={}),y.__n=i,y.__g|=8,y.__h=[],y.__k=[]),D&&(y.__s||(y.__s=y.state),z.getDerivedStateFromProps&&(y.__s==y.state&&(y.__s=_({},y.__s)),_(y.__s,z.getDerivedStateFromProps(E,y.__s)))),b=y.props,w=y.state,y.__v=n,r.__c){if(E!==b&&D&&!z.getDerivedStateFromProps&&y.componentWillReceiveProps&&y.componentWillReceiveProps(E,k),n.__v==r.__v&&!(8&y.__g)||!(4&y.__g)&&y.shouldComponentUpdate&&!1===y.shouldComponentUpdate(E,y.__s,k)){n.__v!=r.__v&&(y.props=E,y.state=y.__s,y.__g&=-9),n.__e=r.__e,n.__k=r.__k,n.__k.some(function(e){e&&(e.__=n)}),p.push.apply(y.__h,y.__k),y.__k=[],y.__h.length&&s.push(y),c=C(r);break e}y.componentWillUpdate&&y.componentWillUpdate(E,y.__s,k),D&&y.componentDidUpdate&&y.__h.push(function(){y.componentDidUpdate(b,w,T)})}else D&&!z.getDerivedStateFromProps&&y.componentWillMount&&y.componentWillMount(),D&&y.componentDidMount&&y.__h.push(y.componentDidMount);y.context=k,y.props=E,y.__P=e,y.__g&=-5,A=t.__r,j=D?25:0;do y.__g&=-9,A&&A(n),f=y.render(y.props,y.state=y.__s,y.context);while(8&y.__g&&++j<25);D&&(p.push.apply(y.__h,y.__k),y.__k=[]),y.state=y.__s,y.getChildContext&&(i=_({},i,y.getChildContext())),D&&r.__c&&y.getSnapshotBeforeUpdate&&(T=y.getSnapshotBeforeUpdate(b,w)),M=f&&f.type===x&&f.key==null?f.props.children:f,E.__P&&(f=c,a=(e=E.__P).namespaceURI,l=o=null,r.props&&r.props.__P!=e&&(r.__k.some(function(e){e&&R(e,e)}),r.__k=null),c=r.__k?C(r,0):null),c=ee(e,h(M)?M:[M],n,r,i,a,o,s,c,l,u),E.__P&&(n.__e=null,c=f),n.__u&=-161,m&&m.some(v),y.__h.length&&s.push(y),1&y.__g&&(y.__g&=-4)}catch(e){if(s.length=g,n.__v=null,l||o){if(e&&e.then){if(n.__u|=128|l,o){for(~(I=o.indexOf(c||void 0))||(I=o.length);(L=o[I-1])&&L.nodeType==8;)I--;for(;I<o.length;I++)if(L=o[I]){if(o[I]=null,N){if(L==P)break}else{if(L.nodeType!=8)break;L.data.startsWith(`$s`)&&(P=F(N=L))}}}if(!N){for(;c&&c.nodeType==8&&c.nextSibling;)c=c.nextSibling;N=c}(f=F(N=n.__c.__z||(n.__c.__z=N)))?(n.__e=N,c=f):n.__e=c,c&&=c.nextSibling}else o&&o.some(v)}else n.__e=r.__e;n.__k||=r.__k||[],e&&e.then||te(n),t.__e(e,n,r)}}else c=n.__e=ne(r.__e,n,r,i,a,o,s,l,u,e);return(f=t.diffed)&&f(n),c}function F(e,t){if(e&&e.nodeType==8&&e.data.startsWith(`$s`))for(var n=1;e=e.nextSibling;){if(e.nodeType==8){if(e.data.startsWith(`$s`))n++;else if(e.data.startsWith(`/$s`)&&!--n)return e}t&&t.push(e)}}function te(e){e&&(e.__c&&(e.__c.__g|=4),e.__k&&e.__k.some(te))}function I(e,n,r){for(var i=0;i<r.length;)L(r[i++],r[i++],r[i++]);t.__c&&t.__c(n,e),e.some(function(n){try{e=n.__h,n.__h=[],e.some(function(e){e.call(n)})}catch(e){t.__e(e,n.__v)}})}function ne(e,n,r,i,a,o,s,c,l,u){var d,p,_,y,b,x,S,w,T=r.props||f,E=n.props,D=n.type;if(D==`svg`?a=`http://www.w3.org/2000/svg`:D==`math`?a=`http://www.w3.org/1998/Math/MathML`:a||=`http://www.w3.org/1999/xhtml`,o){for(d=0;d<o.length;d++)if((b=o[d])&&(D?b.localName==D:b.nodeType==3)){e=b,o[d]=null;break}}if(!e){if(w=u.ownerDocument||document,!D)return w.createTextNode(E);e=w.createElementNS(a,D,E.is?E:u),c&&=(t.__m&&t.__m(n,o),!1),o=null}if(D){if(u=D==`template`&&e.content||e,o=D==`textarea`&&E.defaultValue!=null?null:o&&g.call(u.childNodes),!c&&o)for(T={},d=0;d<e.attributes.length;d++)T[(b=e.attributes[d]).name]=b.value;for(d in T)b=T[d],d==`dangerouslySetInnerHTML`?_=b:d==`children`||d in E||d==`value`&&`defaultValue`in E||d==`checked`&&`defaultChecked`in E||M(e,d,null,b,a);for(d in E)b=E[d],d==`children`?y=b:d==`dangerouslySetInnerHTML`?p=b:d==`value`?x=b:d==`checked`?S=b:c&&typeof b!=`function`||T[d]===b||M(e,d,b,T[d],a);p?(c||_&&(p.__html==_.__html||p.__html==e.innerHTML)||(e.innerHTML=p.__html),n.__k=[]):(_&&(e.textContent=``),(D==`foreignObject`||a==`http://www.w3.org/1998/Math/MathML`&&m.test(D))&&(a=`http://www.w3.org/1999/xhtml`),ee(u,h(y)?y:[y],n,r,i,a,o,s,o?o[0]:r.__k&&C(r,0),c,l),o&&o.some(v)),c&&D!=`textarea`||(d=`value`,D==`progress`&&x==null?e.removeAttribute(d):x==null||x===e[d]&&(D!=`progress`||x)||M(e,d,x,T[d],a),d=`checked`,S!=null&&S!=e[d]&&M(e,d,S,T[d],a))}else T===E||c&&e.data==E||(e.data=E);return e}function L(e,n,r,i){try{typeof e==`function`?n?n.__x=e(n)||1:(i&&=i.__c||i.__e)&&(n=i.__x)&&(i.__x=null,typeof n==`function`?n():e(null)):e.current=n}catch(e){t.__e(e,r)}}function R(e,n,r){var i,a,o,s;if(t.unmount&&t.unmount(e),!(i=e.ref)||i.current&&i.current!=e.__e||L(i,null,n,e),i=e.__c){if(i.componentWillUnmount)try{i.componentWillUnmount()}catch(e){t.__e(e,n)}i.__P=i.__n=null}if(i=e.__k)for(s=0;s<i.length;s++)i[s]&&R(i[s],n,typeof e.type!=`function`||r&&!e.props.__P);!r&&(i=e.__c)&&(i=i.__z)&&(a=F(i,o=[]))&&(i==e.__e&&o.some(v),v(a),v(i)),r||v(e.__e),e.__e=e.__c=e.__=null}function re(e,t,n){return this.constructor(e,n)}function z(e,n){var r,i,a,o;t.__&&t.__(e,n),n.nodeType==9&&(n=n.documentElement),i=(r=e&&32&e.__u)?null:n.__k,n.__k=b(x,{children:[e]}),a=[],o=[],P(n,n.__k,i||f,f,n.namespaceURI,i?null:n.firstChild?g.call(n.childNodes):null,a,i?i.__e:n.firstChild,r,o),I(a,n.__k,o),n.__k.props.children=null}t={__e:function(e,t,n,r){for(var i,o,s;t=t.__;)if((i=t.__c)&&!(1&i.__g)){i.__g|=4;try{if((s=(o=i.constructor)&&o.getDerivedStateFromError)&&i.setState(o.getDerivedStateFromError(e)),i.componentDidCatch&&(i.componentDidCatch(e,r||{}),s=1),s&&8&i.__g)return void(i.__g|=2)}catch(t){e=t}}throw a=0,e}},n=0,S.prototype.setState=function(e,t){var n=this.__s;n&&n!=this.state||(n=this.__s=_({},this.state)),typeof e==`function`&&(e=e(_({},n),this.props)),e&&(_(n,e),this.__v&&(t&&this.__k.push(t),E(this)))},S.prototype.forceUpdate=function(e){this.__v&&(this.__g|=4,e&&this.__h.push(e),E(this))},S.prototype.render=x,r=[],a=0,o=function(e,t){return e.__v.__b-t.__v.__b},s=Symbol(),c=/(PointerCapture)$|Capture$/i,l=0,u={};var B,V,H,ie,ae=Object.is,oe=0,se=[],ce=[],U=t,le=U.__b,ue=U.__r,de=U.diffed,fe=U.__c,pe=U.unmount,me=U.__;function he(e,t){U.__h&&U.__h(V,e,oe||t),oe=0;var n=V.__H||(V.__H={__:[],__h:[]});return e>=n.__.length&&n.__.push({}),n.__[e]}function W(e){return oe=1,ge(Se,e)}function ge(e,t,n){var r=he(B++,2);if(r.t=e,!r.__c&&(r.__=[n?n(t):Se(void 0,t),function(e){var t=(r.__N||r.__)[0],n=r.t(t,e);ae(t,n)||(r.__N=[n,r.__[1]],r.__c.setState({}))}],r.__c=V,!V.__f)){V.__f=!0;var i=V.shouldComponentUpdate;V.shouldComponentUpdate=function(e,t,n){var r=this.__H;if(!r)return!0;var a=!1,o=this.props!=e;if(r.__.some(function(e){e.__N&&(a=!0,ae(e.__[0],e.__N[0])||(o=!0))}),i){var s=i.call(this,e,t,n);return a?s||o:s}return!a||o}}return r.__}function G(e,t){var n=he(B++,3);!U.__s&&xe(n.__H,t)&&(n.__P=!0,n.__=e,n.u=t,V.__H.__h.push(n))}function _e(){var e;do{for(;e=ce.shift();)try{K(e)}catch(t){U.__e(t,{__:(e=e.__P)&&e.__v})}for(;e=se.shift();){var t=e.__H;if(e.__P&&t)try{t.__h.some(K),t.__h.some(q),t.__h=[]}catch(n){t.__h=[],U.__e(n,e.__v)}}}while(ce.length)}U.__b=function(e){V=null,le&&le(e)},U.__=function(e,t){e&&t.__k&&t.__k.__m&&(e.__m=t.__k.__m),me&&me(e,t)},U.__r=function(e){ue&&ue(e),B=0;var t=(V=e.__c).__H;t&&(H==V?V.__h=[]:(t.__h.some(K),t.__h.some(q),B=0),t.__h=[],t.__.some(function(e){e.__N&&(e.__=e.__N),e.u=e.__N=void 0})),H=V},U.diffed=function(e){de&&de(e);var t=e.__c;t&&t.__H&&(t.__H.__h.length&&be(se.push(t)),t.__H.__.some(function(e){e.u&&(e.__H=e.u)})),H=V=null},U.__c=function(e,t){t.some(function(e){try{e.__h.some(K),e.__h=e.__h.filter(function(e){return!e.__||q(e)})}catch(t){e.__h=[function(){throw t}]}}),fe&&fe(e,t)},U.unmount=function(e){pe&&pe(e);var t,n,r=e.__c;r&&r.__H&&(r.__H.__.some(function(r){try{if(r.__P&&r.__c){if(n===void 0){for(n=e.__;n&&(!n.__c||!n.__c.__P);)n=n.__;n&&=n.__c}r.__P=n,be(ce.push(r))}else K(r)}catch(e){t=e}}),r.__H=void 0,t&&U.__e(t,r.__v))};var ve=typeof requestAnimationFrame==`function`;function ye(e){var t,n=function(){clearTimeout(r),ve&&cancelAnimationFrame(t),setTimeout(e)},r=setTimeout(n,35);ve&&(t=requestAnimationFrame(n))}function be(e){e!=1&&ie==U.requestAnimationFrame||((ie=U.requestAnimationFrame)||ye)(_e)}function K(e){var t=V,n=e.__c;typeof n==`function`&&(e.__c=void 0,n()),V=t}function q(e){var t=V;e.__c=e.__(),V=t}function xe(e,t){return!e||e.length!=t.length||t.some(function(t,n){return!ae(t,e[n])})}function Se(e,t){return typeof t==`function`?t(e):t}var Ce=class extends Error{constructor(e,t){super(e),this.code=t}};async function J(e,t,n={}){let r={"content-type":`application/json`};e&&(r.authorization=`Bearer ${e}`);let i=await fetch(`/graphql`,{method:`POST`,headers:r,body:JSON.stringify({query:t,variables:n})}),a=await i.json().catch(()=>({})),o=a.errors?.[0];if(o||!i.ok)throw new Ce(o?.message??`HTTP ${i.status}`,o?.extensions?.code??`INTERNAL`);return a.data}var we=`id cursor subject seen receivedAt codes from { name address }`,Te=`subscription ($inboxId: ID!, $after: String) {
  messageReceived(inboxId: $inboxId, after: $after) { ${we} }
}`;function Ee({credential:t,inboxId:n,cursor:r,onMessage:i,onState:a}){let o,s,c=0,l=!1,u=new URL(`/graphql`,location.href).href.replace(/^http/,`ws`),d=()=>{let e=o;o=void 0,e?.dispose()},f=()=>{l||s||(s=setTimeout(m,Math.min(1e3*2**c++,15e3)),d(),a(`offline`))},p=()=>{clearTimeout(s),d(),m()};function m(){s=void 0;let d=()=>o===p&&!l,p=e({url:u,lazy:!0,retryAttempts:0,keepAlive:1e4,connectionParams:{Authorization:`Bearer ${t}`},on:{connected:()=>{d()&&(c=0,a(`live`))}}});o=p,p.subscribe({query:Te,variables:{inboxId:n,after:r}},{next:({data:e})=>{e&&d()&&(r=e.messageReceived.cursor,i(e.messageReceived))},error:e=>{d()&&(Array.isArray(e)&&e.some(e=>e.extensions?.code===`NOT_FOUND`)?(l=!0,a(`gone`)):f())},complete:()=>{d()&&f()}})}return addEventListener(`online`,p),m(),()=>{l=!0,clearTimeout(s),removeEventListener(`online`,p),d()}}var De=function(e,t,n,r){var i;t[0]=0;for(var a=1;a<t.length;a++){var o=t[a++],s=t[a]?(t[0]|=o?1:2,n[t[a++]]):t[++a];o===3?r[0]=s:o===4?r[1]=Object.assign(r[1]||{},s):o===5?(r[1]=r[1]||{})[t[++a]]=s:o===6?r[1][t[++a]]+=s+``:o?(i=e.apply(s,De(e,s,n,[``,null])),r.push(i),s[0]?t[0]|=2:(t[a-2]=0,t[a]=i)):r.push(s)}return r},Oe=new Map;function ke(e){var t=Oe.get(this);return t||(t=new Map,Oe.set(this,t)),(t=De(this,t.get(e)||(t.set(e,t=function(e){for(var t,n,r=1,i=``,a=``,o=[0],s=function(e){r===1&&(e||(i=i.replace(/^\s*\n\s*|\s*\n\s*$/g,``)))?o.push(0,e,i):r===3&&(e||i)?(o.push(3,e,i),r=2):r===2&&i===`...`&&e?o.push(4,e,0):r===2&&i&&!e?o.push(5,0,!0,i):r>=5&&((i||!e&&r===5)&&(o.push(r,0,i,n),r=6),e&&(o.push(r,e,0,n),r=6)),i=``},c=0;c<e.length;c++){c&&(r===1&&s(),s(c));for(var l=0;l<e[c].length;l++)t=e[c][l],r===1?t===`<`?(s(),o=[o],r=3):i+=t:r===4?i===`--`&&t===`>`?(r=1,i=``):i=t+i[0]:a?t===a?a=``:i+=t:t===`"`||t===`'`?a=t:t===`>`?(s(),r=1):r&&(t===`=`?(r=5,n=i,i=``):t===`/`&&(r<5||e[c][l+1]===`>`)?(s(),r===3&&(o=o[0]),r=o,(o=o[0]).push(2,0,r),r=0):t===` `||t===`	`||t===`
`||t===`\r`?(s(),r=2):i+=t),r===3&&i===`!--`&&(r=4,o=o[0])}return s(),o}(e)),t),arguments,[])).length>1?t:t[0]}var Y=ke.bind(y),X=`id address domain expiresAt`,Ae=`id subject seen receivedAt date codes rawUrl
  from { name address } to { name address }
  links { href text } text blocked: html(blockRemoteImages: true) html
  headers { name value } attachments { id filename contentType size url }`;function je(){let[e,t]=W(Date.now);return G(()=>{let e=setInterval(()=>t(Date.now()),1e3);return()=>clearInterval(e)},[]),e}var Me=e=>String(e).padStart(2,`0`);function Ne({t:e,expiresAt:t}){let n=Math.max(0,Math.floor((Date.parse(t)-je())/1e3));if(!n)return Y`<span class="countdown expired">${e.expired}</span>`;let r=Math.floor(n/3600),i=`${r?`${r}:`:``}${Me(Math.floor(n/60)%60)}:${Me(n%60)}`;return Y`<span class="countdown">${e.timeLeft} <time datetime=${`PT${n}S`}>${i}</time></span>`}function Pe(e){let t=document.createElement(`textarea`);t.value=e,t.setAttribute(`readonly`,``),t.className=`sr-only`,document.body.append(t),t.select(),document.execCommand(`copy`),t.remove()}function Fe({t:e,text:t,label:n,className:r=``}){let[i,a]=W(!1);return Y`<button type="button" class=${`copy ${r}`} onClick=${async()=>{await navigator.clipboard?.writeText(t).catch(()=>Pe(t))??Pe(t),a(!0),setTimeout(()=>a(!1),1500)}} aria-label=${n}>
    ${i?e.copied:e.copy}<span class="sr-only" aria-live="polite">${i?e.copied:``}</span>
  </button>`}var Ie=(e,t,n)=>{let r=new Date(t),i=new Date().toDateString()===r.toDateString(),a=n&&i?{timeStyle:`short`}:{dateStyle:`medium`,timeStyle:`short`};return new Intl.DateTimeFormat(e,a).format(r)},Le=e=>e?.name||e?.address||``,Re=(e,t)=>{let n=new Set(e.map(e=>e.id)),r=t.filter(e=>!n.has(e.id));return r.length?[...r.reverse(),...e]:e};function ze({t:e,language:t,label:n,credential:r,downloadToken:i,inbox:a,onRenewed:o,onDeleted:s,children:c}){let[l,u]=W(),[d,f]=W(`offline`),[p,m]=W(),[h,g]=W(),_=a.id;G(()=>{let e=()=>{},t=!1;return(async()=>{let{inbox:n}=await J(r,`query ($id: ID!) { inbox(id: $id) { latestCursor } }`,{id:_}),i=await J(r,`query ($id: ID!) { messages(inboxId: $id, first: 100) { nodes { ${we} } } }`,{id:_});t||(u(e=>Re(e??[],[...i.messages.nodes].reverse())),e=Ee({credential:r,inboxId:_,cursor:n.latestCursor,onMessage:e=>u(t=>Re(t??[],[e])),onState:f}))})().catch(g),()=>{t=!0,e()}},[_,r]);let v=e=>e.catch(g),y=async()=>{let e=async e=>(await J(r,`mutation ($input: ExtendInboxInput!) { extendInbox(input: $input) { status maxTtlSeconds token inbox { ${X} } } }`,{input:{id:_,ttlSeconds:e}})).extendInbox,t=await e(Math.max(0,Math.floor((Date.parse(a.expiresAt)-Date.now())/1e3))+3600);t.status===`TTL_TOO_LONG`&&(t=await e(t.maxTtlSeconds)),t.status===`EXTENDED`&&o(t.inbox,t.token??void 0)},b=async()=>{confirm(e.confirmDeleteInbox)&&(await J(r,`mutation ($id: ID!) { deleteInbox(id: $id) { status } }`,{id:_}),s())},x=async()=>{confirm(e.confirmDeleteAll)&&(await J(r,`mutation ($id: ID!) { deleteMessages(inboxId: $id) { count } }`,{id:_}),u([]),m(void 0))},S=(e,t)=>u(n=>n.map(n=>n.id===e?{...n,seen:t}:n)),C=e=>{u(t=>t.filter(t=>t.id!==e)),m(void 0)},w=l?.length??0;return Y`
    <section class="inbox-head card" aria-labelledby="address-label">
      <p id="address-label" class="label">${n}</p>
      <div class="address-row">
        <output class="address" id="address" aria-labelledby="address-label">${a.address}</output>
        <${Fe} t=${e} text=${a.address} label=${e.copyAddress} className="primary" />
      </div>
      <div class="inbox-meta">
        <${Ne} t=${e} expiresAt=${a.expiresAt} />
        <button type="button" onClick=${()=>v(y())}>${e.extend}</button>
        <button type="button" class="danger" onClick=${()=>v(b())}>${e.deleteInbox}</button>
        <span class=${`connection ${d}`} role="status">${d===`live`?e.live:d===`gone`?e.expired:e.offline}</span>
      </div>
      ${c}
    </section>
    ${h&&Y`<div class="notice error" role="alert"><strong>${e.error}</strong>: ${h.message}</div>`}
    <div class=${`mail ${p?`reading`:``}`}>
      <section class="messages card" aria-labelledby="messages-title">
        <div class="list-head">
          <h2 id="messages-title">${e.inbox} <span class="muted small count">${e.messages(w)}</span></h2>
          ${w>0&&Y`<button type="button" class="danger small" onClick=${()=>v(x())}>${e.deleteAll}</button>`}
        </div>
        ${l&&w===0&&Y`<p class="muted empty">${e.noMessages}</p>`}
        <ul class="message-list">
          ${(l??[]).map(n=>Y`<li key=${n.id}>
              <button type="button" class=${`message-item${n.seen?``:` unread`}${n.id===p?` selected`:``}`}
                aria-current=${n.id===p} onClick=${()=>m(n.id)}>
                <span class="from">${!n.seen&&Y`<span class="dot" title=${e.unread}><span class="sr-only">${e.unread}: </span></span>`}${Le(n.from)}</span>
                <time class="received" datetime=${n.receivedAt}>${Ie(t,n.receivedAt,!0)}</time>
                <span class="subject">${n.subject||e.noSubject}</span>
                ${n.codes[0]&&Y`<span class="chip small-chip">${n.codes[0]}</span>`}
              </button>
            </li>`)}
        </ul>
      </section>
      <section class="reader card" aria-label=${e.selectMessage}>
        ${p?Y`<${We} key=${p} t=${e} language=${t} credential=${r}
              downloadToken=${i} id=${p} back=${()=>m(void 0)}
              onSeen=${S} onDeleted=${C} onFailure=${g} />`:Y`<p class="muted">${e.selectMessage}</p>`}
      </section>
    </div>
  `}var Be=/^(https?|mailto):/i,Ve=(e,t)=>`${e}${e.includes(`?`)?`&`:`?`}token=${encodeURIComponent(t)}`,He=(e,t)=>t<1024?`${t} B`:`${new Intl.NumberFormat(e,{maximumFractionDigits:1}).format(t/(t<1048576?1024:1048576))} ${t<1048576?`KB`:`MB`}`;function Ue(e,t){return`<!doctype html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src ${t?`data: http: https:`:`data:`}; style-src 'unsafe-inline'; font-src data:">
<meta name="referrer" content="no-referrer">
<style>body{margin:12px;font:15px/1.5 system-ui,sans-serif;color:#1a1a1a;background:#fff;overflow-wrap:anywhere}img{max-width:100%;height:auto}</style>
</head><body>${e}</body></html>`}function We({t:e,language:t,credential:n,downloadToken:r,id:i,back:a,onSeen:o,onDeleted:s,onFailure:c}){let[l,u]=W(),[d,f]=W(`html`),[p,m]=W(!1),h=e=>e.catch(c),g=async e=>{await J(n,`mutation ($ids: [ID!]!, $seen: Boolean!) { markSeen(ids: $ids, seen: $seen) { count } }`,{ids:[i],seen:e}),u(t=>({...t,seen:e})),o(i,e)};G(()=>{h((async()=>{let{message:e}=await J(n,`query ($id: ID!) { message(id: $id) { ${Ae} } }`,{id:i});u(e),f(e.html?`html`:`text`),e.seen||await g(!0)})())},[i]);let _=async()=>{await J(n,`mutation ($id: ID!) { deleteMessage(id: $id) { status } }`,{id:i}),s(i)};if(!l)return Y`<p class="muted" role="status">…</p>`;let v=l.html!==l.blocked&&!p,y=[[`html`,e.html,l.html],[`text`,e.text,l.text],[`headers`,e.headers,!0]].filter(e=>e[2]),b=l.codes[0];return Y`
    <article class="message" aria-labelledby="subject">
      <button type="button" class="back" onClick=${a}>← ${e.back}</button>
      <h2 id="subject" class="subject-line">${l.subject||e.noSubject}</h2>
      <dl class="envelope">
        <dt>${e.from}</dt><dd>${l.from?`${l.from.name?`${l.from.name} `:``}<${l.from.address}>`:``}</dd>
        <dt>${e.to}</dt><dd>${l.to.map(e=>e.address).join(`, `)}</dd>
        <dt>${e.date}</dt><dd><time datetime=${l.receivedAt}>${Ie(t,l.date??l.receivedAt)}</time></dd>
      </dl>
      ${b&&Y`<div class="code-row">
        <span class="label">${e.code}</span>
        <span class="chip code" id="code">${b}</span>
        <${Fe} t=${e} text=${b} label=${e.copyCode} />
      </div>`}
      <div class="message-actions">
        <button type="button" onClick=${()=>h(g(!l.seen))}>${l.seen?e.markUnread:e.markRead}</button>
        <a class="button" href=${Ve(l.rawUrl,r)} download>${e.raw}</a>
        <button type="button" class="danger" onClick=${()=>h(_())}>${e.delete}</button>
      </div>
      <div class="views" role="group" aria-label=${e.html}>
        ${y.map(([e,t])=>Y`<button type="button" aria-pressed=${d===e} onClick=${()=>f(e)}>${t}</button>`)}
      </div>
      ${d===`html`&&v&&Y`<p class="notice">${e.remoteImagesBlocked}
        <button type="button" onClick=${()=>m(!0)}>${e.showImages}</button></p>`}
      ${d===`html`&&Y`<iframe class="body-frame" title=${l.subject||e.noSubject}
        sandbox="allow-popups allow-popups-to-escape-sandbox"
        srcdoc=${Ue(p?l.html:l.blocked,p)}></iframe>`}
      ${d===`text`&&Y`<pre class="body-text">${l.text}</pre>`}
      ${d===`headers`&&Y`<table class="headers"><tbody>
        ${l.headers.map(e=>Y`<tr><th scope="row">${e.name}</th><td>${e.value}</td></tr>`)}
      </tbody></table>`}
      ${l.attachments.length>0&&Y`<section aria-labelledby="attachments-title">
        <h3 id="attachments-title">${e.attachments}</h3>
        <ul class="attachments">${l.attachments.map(e=>Y`<li><a href=${Ve(e.url,r)} download>${e.filename||e.id}</a>
            <span class="muted small">${e.contentType}, ${He(t,e.size)}</span></li>`)}</ul>
      </section>`}
      ${l.links.length>0&&Y`<section aria-labelledby="links-title">
        <h3 id="links-title">${e.links}</h3>
        <ul class="links">${l.links.map(e=>Y`<li>
            ${Be.test(e.href)?Y`<a href=${e.href} target="_blank" rel="noopener noreferrer">${e.text||e.href}</a>`:e.text||e.href}
            ${e.text&&Y`<span class="muted small url">${e.href}</span>`}</li>`)}</ul>
      </section>`}
    </article>
  `}var Z={en:{language:`Language`,yourAddress:`Your temporary address`,address:`Address`,copy:`Copy`,copied:`Copied`,copyAddress:`Copy address`,copyCode:`Copy code`,timeLeft:`Expires in`,expired:`Expired`,extend:`Extend`,newAddress:`New random address`,customAddress:`Choose an address`,localPart:`Name before the @`,domain:`Domain`,create:`Create`,addressTaken:`That address is taken: choose another name.`,inbox:`Inbox`,noMessages:`No mail yet. Mail sent to this address appears here at once.`,live:`Live`,offline:`Offline: reconnecting…`,unread:`Unread`,noSubject:`(no subject)`,back:`Back to the list`,markUnread:`Mark unread`,markRead:`Mark read`,delete:`Delete`,deleteAll:`Delete all`,deleteInbox:`Delete inbox`,confirmDeleteAll:`Delete all messages in this inbox?`,confirmDeleteInbox:`Delete this inbox and all its mail?`,html:`HTML`,text:`Text`,headers:`Headers`,raw:`Download raw (.eml)`,attachments:`Attachments`,links:`Links`,code:`Code`,from:`From`,to:`To`,date:`Date`,remoteImagesBlocked:`Remote images are blocked to protect your privacy.`,showImages:`Show images`,selectMessage:`Select a message to read it.`,developer:`Developer sign-in`,signIn:`Sign in`,signOut:`Sign out`,credential:`API key or inbox token`,credentialHelp:"Kept in this browser only. Create a key with `ephemail key create`.",inboxes:`Inboxes`,search:`Search by address`,noInboxes:`No live inboxes.`,newInbox:`New inbox`,visitorMode:`Back to my temporary inbox`,notPublic:`This server has no public inboxes: sign in with an API key or an inbox token.`,error:`Something went wrong`,retry:`Try again`,graphiql:`GraphQL API`,messages:e=>e===1?`1 message`:`${e} messages`},de:{language:`Sprache`,yourAddress:`Deine temporäre Adresse`,address:`Adresse`,copy:`Kopieren`,copied:`Kopiert`,copyAddress:`Adresse kopieren`,copyCode:`Code kopieren`,timeLeft:`Läuft ab in`,expired:`Abgelaufen`,extend:`Verlängern`,newAddress:`Neue Zufallsadresse`,customAddress:`Adresse wählen`,localPart:`Name vor dem @`,domain:`Domain`,create:`Erstellen`,addressTaken:`Diese Adresse ist vergeben: wähle einen anderen Namen.`,inbox:`Posteingang`,noMessages:`Noch keine E-Mails. Post an diese Adresse erscheint hier sofort.`,live:`Live`,offline:`Offline: verbinde neu…`,unread:`Ungelesen`,noSubject:`(kein Betreff)`,back:`Zurück zur Liste`,markUnread:`Als ungelesen markieren`,markRead:`Als gelesen markieren`,delete:`Löschen`,deleteAll:`Alle löschen`,deleteInbox:`Posteingang löschen`,confirmDeleteAll:`Alle Nachrichten in diesem Posteingang löschen?`,confirmDeleteInbox:`Diesen Posteingang mit allen E-Mails löschen?`,html:`HTML`,text:`Text`,headers:`Kopfzeilen`,raw:`Rohdaten herunterladen (.eml)`,attachments:`Anhänge`,links:`Links`,code:`Code`,from:`Von`,to:`An`,date:`Datum`,remoteImagesBlocked:`Externe Bilder sind zum Schutz deiner Privatsphäre blockiert.`,showImages:`Bilder anzeigen`,selectMessage:`Wähle eine Nachricht zum Lesen.`,developer:`Entwickler-Anmeldung`,signIn:`Anmelden`,signOut:`Abmelden`,credential:`API-Schlüssel oder Posteingangs-Token`,credentialHelp:"Wird nur in diesem Browser gespeichert. Einen Schlüssel erstellt `ephemail key create`.",inboxes:`Posteingänge`,search:`Nach Adresse suchen`,noInboxes:`Keine aktiven Posteingänge.`,newInbox:`Neuer Posteingang`,visitorMode:`Zurück zu meinem temporären Posteingang`,notPublic:`Dieser Server hat keine öffentlichen Posteingänge: melde dich mit einem API-Schlüssel oder Token an.`,error:`Etwas ist schiefgelaufen`,retry:`Erneut versuchen`,graphiql:`GraphQL-API`,messages:e=>e===1?`1 Nachricht`:`${e} Nachrichten`},es:{language:`Idioma`,yourAddress:`Tu dirección temporal`,address:`Dirección`,copy:`Copiar`,copied:`Copiado`,copyAddress:`Copiar dirección`,copyCode:`Copiar código`,timeLeft:`Caduca en`,expired:`Caducado`,extend:`Ampliar`,newAddress:`Nueva dirección aleatoria`,customAddress:`Elegir una dirección`,localPart:`Nombre antes de la @`,domain:`Dominio`,create:`Crear`,addressTaken:`Esa dirección ya existe: elige otro nombre.`,inbox:`Bandeja de entrada`,noMessages:`Aún no hay correo. El correo enviado a esta dirección aparece aquí al instante.`,live:`En vivo`,offline:`Sin conexión: reconectando…`,unread:`No leído`,noSubject:`(sin asunto)`,back:`Volver a la lista`,markUnread:`Marcar como no leído`,markRead:`Marcar como leído`,delete:`Eliminar`,deleteAll:`Eliminar todo`,deleteInbox:`Eliminar bandeja`,confirmDeleteAll:`¿Eliminar todos los mensajes de esta bandeja?`,confirmDeleteInbox:`¿Eliminar esta bandeja y todo su correo?`,html:`HTML`,text:`Texto`,headers:`Cabeceras`,raw:`Descargar original (.eml)`,attachments:`Adjuntos`,links:`Enlaces`,code:`Código`,from:`De`,to:`Para`,date:`Fecha`,remoteImagesBlocked:`Las imágenes remotas están bloqueadas para proteger tu privacidad.`,showImages:`Mostrar imágenes`,selectMessage:`Selecciona un mensaje para leerlo.`,developer:`Acceso para desarrolladores`,signIn:`Entrar`,signOut:`Salir`,credential:`Clave de API o token de bandeja`,credentialHelp:"Se guarda solo en este navegador. Crea una clave con `ephemail key create`.",inboxes:`Bandejas`,search:`Buscar por dirección`,noInboxes:`No hay bandejas activas.`,newInbox:`Nueva bandeja`,visitorMode:`Volver a mi bandeja temporal`,notPublic:`Este servidor no tiene bandejas públicas: entra con una clave de API o un token.`,error:`Algo salió mal`,retry:`Reintentar`,graphiql:`API GraphQL`,messages:e=>e===1?`1 mensaje`:`${e} mensajes`}},Ge={en:`English`,de:`Deutsch`,es:`Español`},Ke=`ephemail.language`;function qe(){let e=localStorage.getItem(Ke);if(e in Z)return e;for(let e of navigator.languages??[navigator.language]){let t=e.toLowerCase().split(`-`)[0];if(t in Z)return t}return`en`}function Je(e){localStorage.setItem(Ke,e)}var Ye=e=>Z[e]??Z.en,Q=`ephemail.visitor`,Xe=`ephemail.developer`,Ze=e=>{try{return JSON.parse(localStorage.getItem(e))??void 0}catch{return}},$=(e,t)=>t===void 0?localStorage.removeItem(e):localStorage.setItem(e,JSON.stringify(t));async function Qe(e,t,n){return(await J(e,`mutation ($input: CreateInboxInput!) { createInbox(input: $input) { status token inbox { ${X} } } }`,{input:{domain:t,localPart:n||null}})).createInbox}function $e(){let[e,t]=W(qe),[n,r]=W(()=>Ze(Xe)),[i,a]=W(),[o,s]=W(),c=Ye(e);G(()=>{document.documentElement.lang=e,document.title=`ephemail · ${c.inbox}`},[e]),G(()=>{J(null,`{ viewer { publicInboxes } }`).then(e=>a(e.viewer)).catch(s)},[]);let l=e=>{$(Xe,{credential:e}),r({credential:e})},u=()=>{$(Xe,void 0),r(void 0)},d;return d=o?Y`<${et} t=${c} error=${o} />`:n?Y`<${at} t=${c} language=${e} credential=${n.credential} signIn=${l} signOut=${u} />`:i?i.publicInboxes?Y`<${tt} t=${c} language=${e} />`:Y`<${it} t=${c} intro=${c.notPublic} signIn=${l} />`:Y`<p class="muted" role="status">…</p>`,Y`
    <header class="bar">
      <a class="brand" href="/">ephemail</a>
      <label class="language">
        <span class="sr-only">${c.language}</span>
        <select value=${e} aria-label=${c.language} onChange=${e=>{Je(e.currentTarget.value),t(e.currentTarget.value)}}>
          ${Object.entries(Ge).map(([e,t])=>Y`<option value=${e}>${t}</option>`)}
        </select>
      </label>
      <nav class="bar-actions" aria-label="ephemail">
        ${n?Y`<button type="button" class="link" onClick=${u}>${i?.publicInboxes?c.visitorMode:c.signOut}</button>`:i?.publicInboxes&&Y`<${rt} t=${c} signIn=${l} />`}
        <a class="link" href="/graphql">${c.graphiql}</a>
      </nav>
    </header>
    <main id="main">${d}</main>
  `}function et({t:e,error:t}){return Y`<div class="notice error" role="alert">
    <p><strong>${e.error}</strong>: ${t.message}</p>
    <button type="button" onClick=${()=>location.reload()}>${e.retry}</button>
  </div>`}function tt({t:e,language:t}){let[n,r]=W(),[i,a]=W([]),[o,s]=W(),[c,l]=W(!1),u=async(e,t)=>{let{status:n,token:i,inbox:a}=await Qe(null,e,t);l(n===`ADDRESS_TAKEN`),n===`CREATED`&&($(Q,{token:i}),r({token:i,inbox:a}))};return G(()=>{(async()=>{let e=(await J(null,`{ domains { name } }`)).domains.map(e=>e.name);a(e);let t=Ze(Q)?.token;if(t){let e=await J(t,`{ viewer { inbox { ${X} } } }`).catch(()=>null);if(e?.viewer.inbox)return r({token:t,inbox:e.viewer.inbox})}await u(e[0])})().catch(s)},[]),o?Y`<${et} t=${e} error=${o} />`:n?Y`
    <${ze}
      key=${n.inbox.id}
      t=${e}
      language=${t}
      label=${e.yourAddress}
      credential=${n.token}
      downloadToken=${n.token}
      inbox=${n.inbox}
      onRenewed=${(e,t)=>{$(Q,{token:t??n.token}),r({token:t??n.token,inbox:e})}}
      onDeleted=${()=>u(n.inbox.domain).catch(s)}
    >
      <${nt} t=${e} domains=${i} current=${n.inbox.domain} taken=${c}
        create=${(e,t)=>u(e,t).catch(s)} />
    <//>
  `:Y`<p class="muted" role="status">…</p>`}function nt({t:e,domains:t,current:n,taken:r,create:i}){let[a,o]=W(),[s,c]=W(``),l=a??n??t[0];return Y`
    <div class="new-address">
      <button type="button" onClick=${()=>i(l)}>${e.newAddress}</button>
      <details open=${r}>
        <summary>${e.customAddress}</summary>
        <form onSubmit=${e=>{e.preventDefault(),i(l,s.trim())}}>
          <div class="field">
            <label for="local-part">${e.localPart}</label>
            <input id="local-part" value=${s} onInput=${e=>c(e.currentTarget.value)}
              autocomplete="off" spellcheck="false" required aria-invalid=${r} />
          </div>
          <div class="field">
            <label for="domain">${e.domain}</label>
            <select id="domain" value=${l} onChange=${e=>o(e.currentTarget.value)}>
              ${t.map(e=>Y`<option value=${e}>@${e}</option>`)}
            </select>
          </div>
          <button type="submit" class="primary">${e.create}</button>
        </form>
        ${r&&Y`<p class="error" role="alert">${e.addressTaken}</p>`}
      </details>
    </div>
  `}function rt({t:e,signIn:t}){let[n,r]=W(!1);return n?Y`<div class="popover"><${it} t=${e} signIn=${t} cancel=${()=>r(!1)} /></div>`:Y`<button type="button" class="link" onClick=${()=>r(!0)}>${e.developer}</button>`}function it({t:e,intro:t,signIn:n,cancel:r}){let[i,a]=W(``);return Y`
    <form class="sign-in card" onSubmit=${e=>{e.preventDefault(),i.trim()&&n(i.trim())}}>
      ${t&&Y`<p>${t}</p>`}
      <label for="credential">${e.credential}</label>
      <input id="credential" type="password" value=${i} autocomplete="off"
        onInput=${e=>a(e.currentTarget.value)} aria-describedby="credential-help" />
      <p id="credential-help" class="muted small">${e.credentialHelp}</p>
      <div class="actions">
        <button type="submit" class="primary">${e.signIn}</button>
        ${r&&Y`<button type="button" onClick=${r}>✕</button>`}
      </div>
    </form>
  `}function at({t:e,language:t,credential:n,signIn:r,signOut:i}){let[a,o]=W(),[s,c]=W(),[l,u]=W(``),[d,f]=W([]),[p,m]=W([]),[h,g]=W(),[_,v]=W(!1);G(()=>{J(n,`{ viewer { kind tenant { name } inbox { ${X} } } }`).then(async e=>{o(e.viewer),e.viewer.kind===`INBOX_TOKEN`?g({inbox:e.viewer.inbox,downloadToken:n}):m((await J(n,`{ domains { name } }`)).domains.map(e=>e.name))}).catch(c)},[n]);let y=async()=>{let e=await J(n,`query ($search: String) { inboxes(search: $search) { ${X} } }`,{search:l});f(e.inboxes)};G(()=>{if(a?.kind!==`API_KEY`)return;let e=setTimeout(()=>y().catch(c),200);return()=>clearTimeout(e)},[a,l]);let b=async e=>{let t=await J(n,`mutation ($id: ID!) { createInboxToken(inboxId: $id) { token } }`,{id:e.id});g({inbox:e,downloadToken:t.createInboxToken.token})},x=async(e,t)=>{let{status:r,token:i,inbox:a}=await Qe(n,e,t);v(r===`ADDRESS_TAKEN`),r===`CREATED`&&(g({inbox:a,downloadToken:i}),await y())};if(s)return Y`<div class="notice error" role="alert">
      <p><strong>${e.error}</strong>: ${s.message}</p>
      <button type="button" onClick=${i}>${e.signOut}</button>
    </div>`;if(!a)return Y`<p class="muted" role="status">…</p>`;let S=h&&Y`
    <${ze}
      key=${h.inbox.id}
      t=${e}
      language=${t}
      label=${e.address}
      credential=${n}
      downloadToken=${h.downloadToken}
      inbox=${h.inbox}
      onRenewed=${(e,t)=>{a.kind===`INBOX_TOKEN`&&t?r(t):g({...h,inbox:e,downloadToken:t??h.downloadToken})}}
      onDeleted=${()=>{g(void 0),a.kind===`API_KEY`?y().catch(c):i()}}
    />`;return a.kind===`API_KEY`?Y`
    <div class="console">
      <section class="inboxes card" aria-labelledby="inboxes-title">
        <h2 id="inboxes-title">${e.inboxes} <span class="muted small">${a.tenant?.name}</span></h2>
        <input type="search" class="search" placeholder=${e.search} aria-label=${e.search} value=${l}
          onInput=${e=>u(e.currentTarget.value)} />
        <ul class="inbox-list">
          ${d.map(e=>Y`<li>
              <button type="button" class=${h?.inbox.id===e.id?`selected`:``}
                aria-current=${h?.inbox.id===e.id} onClick=${()=>b(e).catch(c)}>
                ${e.address}
              </button>
            </li>`)}
        </ul>
        ${d.length===0&&Y`<p class="muted">${e.noInboxes}</p>`}
        <h3>${e.newInbox}</h3>
        <${nt} t=${e} domains=${p} current=${p[0]} taken=${_}
          create=${(e,t)=>x(e,t).catch(c)} />
      </section>
      <div class="console-inbox">${S??Y`<p class="muted card">${e.selectMessage}</p>`}</div>
    </div>
  `:S}z(Y`<${$e} />`,document.getElementById(`app`));